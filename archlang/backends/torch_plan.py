"""What the torch backends (the module builder and the source emitter) decide from the IR
alone, without importing torch: which nodes run in place, and each node's torch.nn module as
data (class name and arguments)."""

from __future__ import annotations

from ..ir import Graph, Node

__all__ = ["inplace_plan", "module_spec", "argument_name"]


def argument_name(graph: Graph, node: str) -> str:
    """The forward's argument for an input: `x` for a single-input network, else its name."""
    return "x" if len(graph.inputs) == 1 else node


def inplace_plan(graph: Graph) -> dict[str, bool]:
    """Which nodes may write into their first input, as torchvision's ReLU(inplace=True) and
    `out += identity` do: the op can (`inplace`), its input is made by an op whose gradient
    does not need its output (`output_overwritable`), and this node is its only reader."""
    plan = {}
    for node in graph.layers:
        plan[node.name] = bool(node.op.inplace and _overwritable(graph, graph.inputs_of(node)[0]))
    return plan


def _overwritable(graph: Graph, source: Node) -> bool:
    """Whether a consumer may write into `source`'s value: nothing else reads it, and its op's
    backward does not need it; an op that may hand its input through unchanged (dropout and
    stochastic depth at inference, `aliases_input`) is as overwritable as that input."""
    while source.op.aliases_input and graph.readers(source) == 1:
        source = graph.inputs_of(source)[0]
    return source.op.output_overwritable and graph.readers(source) == 1


def module_spec(graph: Graph, node: Node, inplace: bool) -> tuple[str, tuple, dict] | None:
    """(torch.nn class, args, kwargs) of a node's module, None for ops without one."""
    spec = node.op.torch_spec(graph.input_types(node))
    if spec is not None and inplace:
        cls, args, kwargs = spec
        spec = cls, args, {**kwargs, "inplace": True}
    return spec
