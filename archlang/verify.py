"""Stage 3: the IR's contract, checked after lowering (a failure here is a compiler bug,
never a user error): the inputs first (and only there), inputs defined before use
(topological order), the outputs defined, every node's stored type equal to its op's shape rule, merges and only
merges with several inputs, and names that form a tree: unique, each the dotted path of
its scopes and a leaf name, no name both a layer and a block instance, and each dotted
path naming one block instance only.
"""

from __future__ import annotations

from .ir import Graph, Scope

__all__ = ["IRError", "verify"]


def _plain(part: str) -> bool:
    """A plain ASCII name, [A-Za-z_][A-Za-z0-9_]*, as each part of a node's path must be."""
    return part.isidentifier() and part.isascii()


class IRError(AssertionError):
    """The IR broke its contract."""


def verify(graph: Graph) -> None:
    def fail(message: str) -> IRError:
        return IRError(f"{graph.name}: {message}")

    if not graph.nodes or graph.nodes[0].inputs:
        raise fail("the graph must start with its input")
    if any(n.inputs for n in graph.nodes[: len(graph.inputs)]) or not graph.outputs:
        raise fail("the inputs must come first, and there must be an output")
    types = {}
    scopes: dict[str, Scope] = {}
    inferred_for: dict[tuple, object] = {}  # (ids of an op and its input types) -> its output type: ops are shared
    seen_scopes: dict[int, tuple] = {}  # id of a scopes tuple -> (it, its names): checked once
    checked: dict[int, Scope] = {}  # id of a Scope -> it: its path checked (so its parents' too)
    for node in graph.nodes:
        inputs = node.inputs
        if node.name in types:
            raise fail(f"node name {node.name!r} is used twice")
        for i in inputs:
            if i not in types:
                raise fail(f"{node.name} reads {i!r} before it is defined")
        if inputs:
            # the graph keeps the types alive while this runs
            key = (id(node.op), id(types[inputs[0]])) if len(inputs) == 1 else (id(node.op), *[id(types[i]) for i in inputs])
            inferred = inferred_for.get(key)
            if inferred is None:
                inferred = inferred_for[key] = node.op.infer(tuple([types[i] for i in inputs]))
            if inferred is not node.type and inferred != node.type:
                raise fail(f"{node.name} is typed {node.type} but its op gives {inferred}")
            if node.op.merge != (len(inputs) > 1):
                raise fail(f"{node.name} has {len(inputs)} inputs")
        *parents, leaf = node.name.split(".")
        known = seen_scopes.get(id(node.scopes))  # nodes of one block instance share its scopes
        if known is None or known[0] is not node.scopes:
            if parents != [s.name for s in node.scopes]:
                raise fail(f"{node.name!r} is not the path of its scopes ({'.'.join(s.name for s in node.scopes)}) "
                           "and a name")
            for depth in range(len(node.scopes), 0, -1):  # from the innermost out, to a scope checked before
                scope = node.scopes[depth - 1]
                if checked.get(id(scope)) is scope:
                    break
                path = ".".join(parents[:depth])
                if not _plain(parents[depth - 1]):
                    raise fail(f"{node.name!r} is not the path of its scopes ({path}) and a name")
                if scopes.setdefault(path, scope) != scope:
                    raise fail(f"two block instances are both named {path!r}")
                checked[id(scope)] = scope
            seen_scopes[id(node.scopes)] = (node.scopes, parents)
        elif parents != known[1]:
            raise fail(f"{node.name!r} is not the path of its scopes ({'.'.join(s.name for s in node.scopes)}) and a name")
        if not (leaf.isidentifier() and leaf.isascii()):  # _plain(leaf), inline: every node
            raise fail(f"{node.name!r} is not the path of its scopes ({'.'.join(s.name for s in node.scopes)}) and a name")
        types[node.name] = node.type
    clash = scopes.keys() & types.keys()
    if clash:
        raise fail(f"{min(clash)!r} names both a layer and a block instance")
    for out in graph.outputs:
        if out not in types:
            raise fail(f"the output {out!r} is not a node")
    if len(graph.output_names) != len(graph.outputs):
        raise fail("every output needs a name")
