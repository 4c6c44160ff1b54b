"""Backend: an IR graph -> a torch.nn module (a torch.fx GraphModule).

Each layer becomes the standard torch.nn module its op names (`Op.torch_spec`), placed at
its IR name, so that `state_dict()` keys read like the spec: `stem1.cbn1.conv1.weight`.
Block instances become plain `nn.Module` containers. The forward is code that torch.fx
generates from the graph once, at build time: calling the module runs straight-line Python
over the layers, as a hand-written forward would, with nothing interpreted per call.

Modules are created on the meta device and initialised once, in node order, by each op's
rule (`Op.torch_init`, else the module's own `reset_parameters()`), which makes building
cheaper than constructing the same network by hand (that initialises every weight twice).
"""

from __future__ import annotations

import torch
from torch import fx, nn

from ..ir import Graph, Node

__all__ = ["build_module", "inplace_plan", "module_spec", "init_module"]


def inplace_plan(graph: Graph) -> dict[str, bool]:
    """Which nodes may write into their first input, as torchvision's ReLU(inplace=True) and
    `out += identity` do: the op can (`inplace`), its input is made by an op whose gradient
    does not need its output (`output_overwritable`), and this node is its only reader."""
    plan = {}
    for node in graph.layers:
        (source, *_) = graph.inputs_of(node)
        plan[node.name] = bool(
            node.op.inplace and source.op.output_overwritable and graph.readers(source) == 1
        )
    return plan


def module_spec(graph: Graph, node: Node, inplace: bool) -> tuple[str, tuple, dict] | None:
    """(torch.nn class, args, kwargs) of a node's module, None for ops without one."""
    spec = node.op.torch_spec(graph.input_types(node))
    if spec is not None and inplace:
        cls, args, kwargs = spec
        spec = cls, args, {**kwargs, "inplace": True}
    return spec


def init_module(node: Node, module: nn.Module) -> None:
    rules = type(node.op).torch_init
    if rules:
        for attr, fn, kwargs in rules:
            tensor = getattr(module, attr, None)
            if tensor is not None:
                getattr(nn.init, fn)(tensor, **kwargs)
    elif hasattr(module, "reset_parameters"):
        module.reset_parameters()


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
                module = getattr(nn, cls)(*args, **kwargs)
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

    g = fx.Graph()
    values = {"input": g.placeholder("x")}
    owned = {node.name for node, _ in modules}
    for node in graph.layers:
        args = [values[i] for i in node.inputs]
        if node.name in owned:
            values[node.name] = g.call_module(node.name, (args[0],))
        else:
            values[node.name] = node.op.torch_fx(g, args, plan[node.name])
    g.output(values[graph.output])
    return fx.GraphModule(root, g, class_name=graph.name)
