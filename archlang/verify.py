"""Stage 3: the IR's contract, checked after lowering (a failure here is a compiler bug,
never a user error): unique names, the input first, inputs defined before use (topological
order), the output defined, and every node's stored type equal to its op's shape rule.
"""

from __future__ import annotations

from .ir import Graph

__all__ = ["IRError", "verify"]


class IRError(AssertionError):
    """The IR broke its contract."""


def verify(graph: Graph) -> None:
    if not graph.nodes or graph.nodes[0].op.family != "input" or graph.nodes[0].inputs:
        raise IRError(f"{graph.name}: the first node must be the input")
    types = {}
    for node in graph.nodes:
        if node.name in types:
            raise IRError(f"{graph.name}: node name {node.name!r} is used twice")
        for i in node.inputs:
            if i not in types:
                raise IRError(f"{graph.name}: {node.name} reads {i!r} before it is defined")
        if node.inputs:
            inferred = node.op.infer(tuple(types[i] for i in node.inputs))
            if inferred != node.type:
                raise IRError(f"{graph.name}: {node.name} is typed {node.type} but its op gives {inferred}")
        if node.op.merge != (len(node.inputs) > 1):
            raise IRError(f"{graph.name}: {node.name} has {len(node.inputs)} inputs")
        types[node.name] = node.type
    if graph.output not in types:
        raise IRError(f"{graph.name}: the output {graph.output!r} is not a node")
