"""Backend: an IR graph -> a torch.nn module (a torch.fx GraphModule).

Each layer becomes the standard torch.nn module its op names (`Op.torch_spec`), placed at
its IR name, so that `state_dict()` keys read like the spec: `stem1.cbn1.conv1.weight`.
Block instances become plain `nn.Module` containers. The forward is code that torch.fx
generates from the graph once, at build time: calling the module runs straight-line Python
over the layers, as a hand-written forward would, with nothing interpreted per call.

Modules are created on the meta device and initialised once, in node order, by each op's
rules (`Op.init`, mapped to torch.nn.init), which makes building cheaper than constructing
the same network by hand (that initialises every weight twice).
"""

from __future__ import annotations

import torch
from torch import fx, nn

from ..ir import Graph, Node, TensorType
from ..ops.base import torch_class
from .torch_plan import argument_name, inplace_plan, module_spec, release_plan

__all__ = ["build_module", "init_module"]


def example_input(t: TensorType, batch: int, random: bool = True) -> torch.Tensor:
    """An input of type `t` for `batch` examples: normal values, or for token indices
    index 0 (valid for every vocabulary)."""
    if t.ids:
        return torch.zeros(batch, *t.shape, dtype=torch.long)
    return torch.randn(batch, *t.shape) if random else torch.zeros(batch, *t.shape)


def held_until_block_end(*values) -> None:
    """Does nothing: a call placed at a block's end that reads the block's inputs, so that the
    forward torch.fx generates keeps them until there, as a hand-written nested forward does
    (torch_plan.release_plan says why)."""


def init_module(node: Node, module: nn.Module) -> None:
    """Initialise a node's module by its op's declared rules (`Op.init`), each mapped to the
    torch.nn.init function of the same name, in the order the op declares them; ONNX export
    draws the same rules with numpy (backends/initial_weights)."""
    tensors = {t.name: getattr(module, t.name) for t in node.op.tensors()}
    for rule in node.op.init_rules():
        tensor = tensors.get(rule.tensor)
        if tensor is None:  # a tensor this layer does not have (a conv without bias)
            continue
        call = rule.torch_call()
        if call is None:  # fan_in_uniform: the bound comes from another tensor's shape
            # a tied weight (fc(tie=wte)) is not the layer's own, but its bias's bound reads its shape
            shapes = {attr: tuple(getattr(module, attr).shape) for attr, _, _ in node.op.ties()}
            bound = rule.scale(shapes | {name: tuple(t.shape) for name, t in tensors.items()})
            nn.init.uniform_(tensor, -bound, bound)
        else:
            fn, kwargs = call
            getattr(nn.init, fn)(tensor, **kwargs)


def _attach(root: nn.Module, path: str, module: nn.Module) -> None:
    *scopes, leaf = path.split(".")
    parent = root
    for name in scopes:
        child = getattr(parent, name, None)
        if child is None:
            child = nn.Module()
            parent.add_module(name, child)
        parent = child
    parent.add_module(leaf, module)


def build_module(graph: Graph, seed: int | None = None, *, device: str = "cpu") -> fx.GraphModule:
    """The graph as a GraphModule with freshly initialised weights (`seed`: reproducible).
    On the "meta" device nothing is allocated or initialised: the module has every layer and
    tensor shape, and its forward computes output shapes only (for checks of huge networks)."""
    plan = inplace_plan(graph)
    root = nn.Module()
    modules: list[tuple[Node, nn.Module]] = []
    with torch.device("meta"):
        for node in graph.layers:
            spec = module_spec(graph, node, plan[node.name])
            if spec is not None:
                cls, args, kwargs = spec
                module = torch_class(cls)(*args, **kwargs)
                _attach(root, node.name, module)
                modules.append((node, module))
    if device != "meta":
        root.to_empty(device=device)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            with torch.no_grad():
                for node, module in modules:
                    init_module(node, module)

    for node in graph.layers:  # shared tensors (fc(tie=wte)): the partner's Parameter, after initialisation
        for attr, other, tensor in node.op.ties():
            setattr(root.get_submodule(node.name), attr, getattr(root.get_submodule(other), tensor))
    g = fx.Graph()
    values = {n.name: g.placeholder(argument_name(graph, n.name)) for n in graph.inputs}
    owned = {node.name for node, _ in modules}
    last_reader = {i: node.name for node in graph.layers for i in node.inputs}
    releases = release_plan(graph)
    for node in graph.layers:
        args = [values[i] for i in node.inputs]
        if node.name in owned:
            values[node.name] = g.call_module(node.name, (args[0],))
        else:
            values[node.name] = node.op.torch_fx(g, args, plan[node.name])
        values[node.name].meta["archlang_node"] = node.name  # the fx value of each IR node (a step may take several)
        held = [values[v] for v in releases.get(node.name, ()) if last_reader[v] != node.name]
        if held:  # fx lets a value go after its last reader: this reader is the block's end
            g.call_function(held_until_block_end, tuple(held))
    outs = tuple(values[o] for o in graph.outputs)
    g.output(outs[0] if len(outs) == 1 else outs)
    module = fx.GraphModule(root, g, class_name=graph.name)
    _direct_children(module)
    return module


def _direct_children(module: nn.Module) -> None:
    """Put every submodule in its parent's instance dict as well as in `_modules`, so that the
    generated forward's `self.stage3.mbconv2.block.conv1` is found by plain attribute lookup:
    nn.Module finds a child through its Python-level `__getattr__`, about 0.2 us a step, and
    a forward of a few hundred deeply nested layers spent half a millisecond on it
    (EfficientNet-B0's, 3% of a batch-1 forward, next to torchvision's flat Sequentials).
    Nothing else changes: parameters, state_dict and module traversal use `_modules`, and
    nn.Module.__setattr__ replaces both entries when a submodule is reassigned. (Deleting a
    submodule with `del` leaves the instance entry behind; replace it with nn.Identity().)"""
    for _, parent in module.named_modules():
        for name, child in parent._modules.items():
            if child is not None:
                object.__setattr__(parent, name, child)
