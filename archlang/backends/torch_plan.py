"""What the torch backends (the module builder and the source emitter) decide from the IR
alone, without importing torch: which nodes run in place, when each value is released, and
each node's torch.nn module as data (class name and arguments)."""

from __future__ import annotations

from ..ir import Graph, Node

__all__ = ["inplace_plan", "release_plan", "module_spec", "argument_name"]


def argument_name(graph: Graph, node: str) -> str:
    """The forward's argument for an input: `x` for a single-input network, else its name."""
    return "x" if len(graph.inputs) == 1 else node


def release_plan(graph: Graph) -> dict[str, tuple[str, ...]]:
    """node -> the values the forward lets go of right after it runs. A value lives until its
    last reader has run and, where the innermost block instance around a reader takes it
    from outside (as its input), until that block's last layer: the lifetimes of a
    hand-written forward, where a block's `forward(self, x)` holds x until it returns (and
    an enclosing nn.Sequential lets go as soon as its first module has it). Letting go at the
    last reader instead changes the order in which buffers go back to the allocator, and with
    glibc's malloc that costs thousands of extra page faults per forward on some networks
    (bench/zoo_speed.py counts them: MobileNetV2 at batch 8 ran 6% slower than torchvision's
    module); a forward that never lets go holds every activation to the end and faults most.
    Outputs and the forward's own arguments are never released."""
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    until: dict[str, str] = {}
    block_end: dict[str, str] = {}
    for node in graph.layers:
        for depth in range(1, len(node.scopes) + 1):
            block_end[".".join(s.name for s in node.scopes[:depth])] = node.name
    for node in graph.layers:
        for value in node.inputs:
            ends = [node.name]
            for depth in range(len(node.scopes), 0, -1):  # the innermost block it enters from outside
                scope = ".".join(s.name for s in node.scopes[:depth])
                if not value.startswith(scope + "."):
                    ends.append(block_end[scope])
                    break
            latest = max(ends, key=order.__getitem__)
            if value not in until or order[latest] > order[until[value]]:
                until[value] = latest
    kept = {n.name for n in graph.inputs} | set(graph.outputs)
    plan: dict[str, list[str]] = {}
    for value, last in until.items():
        if value not in kept:
            plan.setdefault(last, []).append(value)
    return {node: tuple(values) for node, values in plan.items()}


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
