"""archlang: a declarative language and compiler for neural-network architectures.

    program = archlang.load("resnet50")        # a path, or a bundled network's name
    net = program.network("resnet50")
    net.total_params, net.total_macs, net.layers
    model = archlang.build("resnet50", seed=0)  # a torch.nn.Module
"""

from __future__ import annotations

import importlib

__all__ = [
    # building models
    "build", "load_weights", "export_onnx",
    # reading models back
    "from_torch", "from_onnx",
    # reading specs
    "parse", "load", "bundled_networks", "Program", "Limits",
    # analysed networks
    "Network", "LayerInfo",
    # the IR
    "Graph", "Node", "Scope", "TensorType",
    # errors
    "ArchError", "Span",
]

__version__ = "0.1.0"

# Each name is imported when first used (PEP 562), so `import archlang` costs what a command
# needs and no more: a check never imports torch's or Graphviz's side, the language server never
# imports the backends.
_LAZY = {
    "ArchError": "errors", "Span": "errors",
    "Graph": "ir", "Node": "ir", "Scope": "ir", "TensorType": "ir",
    "Limits": "lower",
    "LayerInfo": "network", "Network": "network", "Program": "program", "bundled_networks": "program",
    "load": "program", "parse": "program",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archlang' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def build(spec, network: str | None = None, seed: int | None = None):
    """A torch.nn.Module for a spec, as timm.create_model takes a name. `spec` is any step on
    the way from text to a module:

        archlang.build("resnet50")                      # a bundled network's name
        archlang.build("my.arch", network="small")      # a spec file (a str or a Path)
        archlang.build(archlang.parse(text), "small")   # a Program, from spec text
        archlang.build(program.network("small"))        # an analysed Network

    `network` picks one of the file's networks; `seed` makes weights reproducible. The
    module's `.network` is its analysed network."""
    from pathlib import Path

    from .network import Network
    from .program import Program, load

    if isinstance(spec, Network):
        if network is not None and network != spec.name:
            raise ValueError(f"build(network=...) names {network!r}, but the Network given is {spec.name!r}")
        return spec.to_torch(seed=seed)
    if isinstance(spec, Program):
        return spec.network(network).to_torch(seed=seed)
    if isinstance(spec, (str, Path)):
        return load(spec).network(network).to_torch(seed=seed)
    raise TypeError(
        f"build() takes a bundled network's name, a path, a Program (archlang.parse(text)) or a Network, "
        f"not {type(spec).__name__}"
    )


def load_weights(module, source):
    """Copy parameters and buffers from `source` (a module or state_dict) by order and shape.

    Tensors pair in state_dict order with equal shapes; failing that, with each module's own
    tensors after its submodules' on both sides, and an O x I weight as an O x I x 1 x 1
    convolution's (torchvision's ConvNeXt). Otherwise a WeightsError names the first pair that
    differs; nothing is copied until everything is checked. Returns `module`."""
    from .extras import require

    require("torch", job="load_weights")
    from .backends.torch_weights import load_weights as _load_weights

    return _load_weights(module, source)


def export_onnx(source, path=None, *, seed: int | None = None):
    """Write an ONNX model of an archlang-built module (with its weights) or of an analysed
    network (weights drawn with numpy by the same rules as build(), from `seed`; torch is not
    needed). Without a path, returns the onnx.ModelProto; with one, writes it atomically
    (over 2 GiB of weights, beside it in `<path>.data`) and returns the paths written."""
    from .extras import require

    require("onnx", "numpy", job="export_onnx")
    from .backends.onnx_model import export_onnx as _export_onnx

    return _export_onnx(source, path, seed=seed)


def from_torch(module, input_shape, *, name: str | None = None):
    """The spec a person would write for a torch module (captured with torch.fx): an Imported
    with `.text`, `.network` and `.state_dict()` (which loads into `build(parse(text))`)."""
    from .importer import from_torch as _from_torch

    return _from_torch(module, input_shape, name=name)


def from_onnx(path, *, name: str | None = None, input_shape=None):
    """The spec a person would write for an ONNX file: an Imported (see from_torch)."""
    from .importer import from_onnx as _from_onnx

    return _from_onnx(path, name=name, input_shape=input_shape)
