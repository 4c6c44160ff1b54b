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
    paths: dict[int, tuple[Scope, str]] = {}  # id of a Scope -> (it, its dotted path), checked (its parents too)
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
        name, within = node.name, node.scopes
        if within:  # the path of its scopes, found once per block instance, then a name
            inner = within[-1]
            known = paths.get(id(inner))
            if known is None or known[0] is not inner:
                known = _path(within, paths, scopes, fail)
            prefix = known[1]
            if not (name.startswith(prefix) and name[len(prefix):len(prefix) + 1] == "."):
                raise fail(f"{name!r} is not the path of its scopes ({prefix}) and a name")
            leaf = name[len(prefix) + 1:]
        else:
            leaf = name
        if not (leaf.isidentifier() and leaf.isascii()):  # _plain(leaf), inline: every node
            raise fail(f"{name!r} is not the path of its scopes ({'.'.join(s.name for s in within)}) and a name")
        types[node.name] = node.type
    clash = scopes.keys() & types.keys()
    if clash:
        raise fail(f"{min(clash)!r} names both a layer and a block instance")
    for out in graph.outputs:
        if out not in types:
            raise fail(f"the output {out!r} is not a node")
    if len(graph.output_names) != len(graph.outputs):
        raise fail("every output needs a name")


def _path(within: tuple[Scope, ...], paths: dict, scopes: dict[str, Scope], fail) -> tuple[Scope, str]:
    """(innermost scope, its dotted path) for a node's scopes, checking each scope not met
    before, from the outermost new one in: a plain name, and no other block instance on its path."""
    depth = len(within)
    while depth and (paths.get(id(within[depth - 1])) or (None,))[0] is not within[depth - 1]:
        depth -= 1  # out to the innermost scope met before
    path = paths[id(within[depth - 1])][1] if depth else ""
    for scope in within[depth:]:
        path = f"{path}.{scope.name}" if path else scope.name
        if not _plain(scope.name):
            raise fail(f"{path!r} is not the path of its scopes and a name")
        first = scopes.setdefault(path, scope)
        if first is not scope and first != scope:
            raise fail(f"two block instances are both named {path!r}")
        paths[id(scope)] = (scope, path)
    return paths[id(within[-1])]
