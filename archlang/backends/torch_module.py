"""Backend: an analysed network -> a torch.nn module (a torch.fx GraphModule).

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

import operator
from typing import TYPE_CHECKING

import torch
from torch import fx, nn

from ..ir import Graph, Node

if TYPE_CHECKING:
    from ..program import Network

__all__ = ["build_module", "inplace_plan", "make_module", "init_module"]

# ops whose backward pass does not read their own output, so a consumer may overwrite it
_OVERWRITABLE = {"conv", "norm", "fc", "merge"}


def inplace_plan(graph: Graph) -> dict[str, bool]:
    """Which nodes may write into their first input, as torchvision's ReLU(inplace=True) and
    `out += identity` do: the input is produced by an op whose gradient does not need its
    output, and this node is its only reader."""
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for i in node.inputs:
            readers[i] = readers.get(i, 0) + 1
    readers[graph.output] = readers.get(graph.output, 0) + 1
    plan = {}
    for node in graph.layers:
        wants = node.op.torch_inplace or node.op.torch_merge() == "add"
        source = graph.node(node.inputs[0])
        plan[node.name] = bool(
            wants and source.inputs and source.op.family in _OVERWRITABLE and readers[source.name] == 1
        )
    return plan


def make_module(graph: Graph, node: Node, inplace: bool) -> nn.Module:
    types = tuple(graph.node(i).type for i in node.inputs)
    cls, args, kwargs = node.op.torch_spec(types)
    if inplace and node.op.torch_inplace:
        kwargs = {**kwargs, "inplace": True}
    return getattr(nn, cls)(*args, **kwargs)


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


def build_module(network: "Network", seed: int | None = None) -> fx.GraphModule:
    """The network as a GraphModule with freshly initialised weights (`seed`: reproducible)."""
    graph = network.graph
    plan = inplace_plan(graph)
    root = nn.Module()
    modules: list[tuple[Node, nn.Module]] = []
    with torch.device("meta"):
        for node in graph.layers:
            if node.op.torch_merge() is None:
                module = make_module(graph, node, plan[node.name])
                _attach(root, node.name, module)
                modules.append((node, module))
    root.to_empty(device="cpu")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        with torch.no_grad():
            for node, module in modules:
                init_module(node, module)

    g = fx.Graph()
    values = {"input": g.placeholder("x")}
    for node in graph.layers:
        args = [values[i] for i in node.inputs]
        merge = node.op.torch_merge()
        if merge == "add":
            add = operator.iadd if plan[node.name] else operator.add
            out = args[0]
            for other in args[1:]:
                out = g.call_function(add, (out, other))
        elif merge == "cat":
            out = g.call_function(torch.cat, (args,), {"dim": 1})
        else:
            out = g.call_module(node.name, (args[0],))
        values[node.name] = out
    g.output(values[graph.output])
    module = fx.GraphModule(root, g, class_name=network.name)
    module.network = network
    return module
