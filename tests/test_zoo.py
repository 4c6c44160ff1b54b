"""The bundled zoo (AlexNet, ResNeXt, Wide ResNet, the video ResNets R3D and MC3, the audio
M5) against the sources it follows: MACs counted by hooks on the hand-written reference
modules, their weights loaded and computing the same, and ONNX Runtime agreeing with torch.
Parameters, published GMACs and every shape on the meta device are checked for every
bundled network elsewhere (test_analysis, test_torch, test_onnx)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import archlang

from . import reference_zoo as ref
from .test_onnx import realistic

# name: (reference, torchvision's MACs as exact integers, the input of the numeric tests:
# the published one, or a smaller one where a full-size forward costs seconds)
ZOO = {
    "alexnet": (ref.AlexNet, 714_188_480, (2, 3, 64, 64)),  # its adaptive pool makes any size 6x6
    "resnext50_32x4d": (ref.resnext50_32x4d, 4_230_479_872, (1, 3, 64, 64)),
    "resnext101_32x8d": (ref.resnext101_32x8d, 16_414_015_488, (1, 3, 48, 48)),
    "wide_resnet50_2": (ref.wide_resnet50_2, 11_398_021_120, (1, 3, 48, 48)),
    # 40 GMACs at 16x112x112: the same modules, computed on 4-frame 32x32 clips
    "r3d_18": (ref.r3d_18, 40_696_553_472, (1, 3, 4, 32, 32)),
    "mc3_18": (ref.mc3_18, 43_342_635_008, (1, 3, 4, 32, 32)),
    "m5": (ref.M5, 1_880_256, (4, 1, 8000)),  # not published: counted by hand and by the hooks
}


# a few tensors of each torchvision (or tutorial) state_dict, names and shapes as published
LAYOUT = {
    "alexnet": {"features.3.weight": (192, 64, 5, 5), "classifier.1.weight": (4096, 9216)},
    "resnext50_32x4d": {"layer1.0.conv2.weight": (128, 4, 3, 3), "layer2.0.downsample.0.weight": (512, 256, 1, 1)},
    "resnext101_32x8d": {"layer3.22.conv2.weight": (1024, 32, 3, 3), "fc.weight": (1000, 2048)},
    "wide_resnet50_2": {"layer1.0.conv1.weight": (128, 64, 1, 1), "layer4.2.conv3.weight": (2048, 1024, 1, 1)},
    "r3d_18": {"stem.0.weight": (64, 3, 3, 7, 7), "layer2.0.conv1.0.weight": (128, 64, 3, 3, 3),
               "layer2.0.downsample.1.running_var": (128,)},
    "mc3_18": {"layer1.1.conv2.0.weight": (64, 64, 3, 3, 3), "layer2.0.conv1.0.weight": (128, 64, 1, 3, 3),
               "fc.weight": (400, 512)},
    "m5": {"conv1.weight": (32, 1, 80), "bn4.running_mean": (64,), "fc1.weight": (35, 64)},
}


def hooked_macs(module: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Multiply-accumulates of every convolution and linear layer, per example: output
    elements x input channels per group x kernel volume; for a transposed convolution, which
    spreads each input element over C'/G filters, input elements x C'/G x kernel volume.
    Also returns the module's output."""
    total = 0

    def count(m, inputs, out):
        nonlocal total
        if isinstance(m, nn.Linear):
            total += out.numel() // x.shape[0] * m.in_features
        elif isinstance(m, nn.modules.conv._ConvTransposeNd):
            total += inputs[0].numel() // x.shape[0] * m.out_channels // m.groups * math.prod(m.kernel_size)
        else:
            total += out.numel() // x.shape[0] * m.in_channels // m.groups * math.prod(m.kernel_size)

    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    hooks = [m.register_forward_hook(count) for m in layers]
    try:
        out = module(x)
    finally:
        for h in hooks:
            h.remove()
    return total, out


@pytest.mark.parametrize("name", ZOO)
def test_macs_counted_on_the_reference_equal_check(name):
    """At the published input size, on the meta device (shapes only, nothing allocated)."""
    make_reference, macs, _ = ZOO[name]
    net = archlang.load(name).network()
    with torch.device("meta"):
        reference = make_reference()
        counted, _ = hooked_macs(reference, torch.empty(1, *net.input_shape))
    assert counted == net.total_macs == macs
    assert sum(p.numel() for p in reference.parameters()) == net.total_params
    shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: shapes.get(k) for k in LAYOUT[name]} == LAYOUT[name]


SAME_BLOCKS_AS = {"resnext101_32x8d": "resnext50_32x4d", "wide_resnet50_2": "resnext50_32x4d"}


def onnx_runtime(path, x: np.ndarray) -> np.ndarray:
    """The output of the ONNX file in ONNX Runtime with its graph optimisations off: the
    nodes as exported are what is tested (test_onnx runs resnet50 fully optimised), and
    prepacking 100 to 350 MB of weights for fused kernels would cost seconds per network.
    (From a file: serialising such a graph in memory costs more than writing it.)"""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _trained_looking(reference: nn.Module) -> nn.Module:
    """Non-trivial batch-norm statistics and affine terms, so that buffers are compared too."""
    for m in reference.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return reference.eval()


def at_size(name: str, shape: tuple[int, ...]):
    """The bundled network, or, where `shape` differs from its input, the same chain (which
    may span lines) of the same spec's blocks, through `use`, on an input of that shape."""
    net = archlang.load(name).network()
    if shape == net.input_shape:
        return net
    path = archlang.bundled_networks()[name]
    chain = re.search(rf"^network {name} : \S+ =(.+?)(?=^\S|\Z)", path.read_text(), re.M | re.S).group(1)
    size = "x".join(map(str, shape))
    return archlang.parse(f'use "{path.stem}"\nnetwork {name}_small : {size} ={chain}\n').network()


def outputs_with_reference_weights(name: str, reference: nn.Module, shape: tuple[int, ...], state=None):
    """The bundled network `name` built at `shape` (see at_size) with the reference's weights
    loaded by order and shape (which proves the same tensors in the same order), in eval
    mode: (the built module, the input, the reference's output, the built module's)."""
    built = archlang.build(at_size(name, shape[1:]), seed=1)
    archlang.load_weights(built, reference.state_dict() if state is None else state)
    built.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        return built, x, reference(x), built(x)


def assert_onnx_runtime_agrees(module: nn.Module, x: torch.Tensor, expected, path: Path, atol=1e-4, rtol=1e-3):
    """Exported with its weights, the module computes `expected` in ONNX Runtime too."""
    archlang.export_onnx(module, path)
    np.testing.assert_allclose(onnx_runtime(path, x.numpy()), np.asarray(expected), atol=atol, rtol=rtol)


@pytest.mark.parametrize("name", [n for n in ZOO if n not in SAME_BLOCKS_AS])  # once per kind of block
def test_reference_weights_compute_the_same_in_torch_and_onnx_runtime(name, tmp_path):
    """The reference's weights load by order and shape (which proves the same tensors in the
    same order) and give its outputs; exported with them, ONNX Runtime agrees with torch."""
    make_reference, _, shape = ZOO[name]
    torch.manual_seed(0)
    built, x, expected, got = outputs_with_reference_weights(name, _trained_looking(make_reference()), shape)
    if name == "m5":  # the tutorial's output is (batch, 1, 35): its log_softmax over the 35
        expected = expected[:, 0]
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5
    module = realistic(built)
    x = torch.randn(1, *module.network.input_shape)
    with torch.no_grad():
        expected = module(x).numpy()
    assert_onnx_runtime_agrees(module, x, expected, tmp_path / f"{name}.onnx")


def test_readme_library_table_is_current():
    """README's table of the bundled library: every spec file with its networks, and the
    lines each took (without comments and blank lines)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## The bundled library") : readme.index("## Broken and hostile input")]
    rows = re.findall(r"^\| \[specs/(\w+)\.arch\]\(specs/\w+\.arch\) \| (.+) \| (\d+) \|$", section, re.M)
    files = {}
    for name, path in archlang.bundled_networks().items():
        files.setdefault(path, set()).add(name)
    assert {stem for stem, _, _ in rows} == {path.stem for path in files}
    for path, networks in files.items():
        (listed, lines), = [(n, int(k)) for stem, n, k in rows if stem == path.stem]
        assert set(re.findall(r"`(\w+)`", listed)) == networks, path.name
        code = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(code) == lines, path.name
