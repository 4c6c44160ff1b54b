"""Admissible input sizes (`archlang sizes`): an analysis over the surface tree and the IR.

Takes a program and a network whose header may leave its spatial sizes open (`3x?x?`) and
gives, per spatial axis, every input size from 1 to `max` at which the network is valid, in
the definition that docs/language.md states: axis a's valid set is the sizes s such that the
network lowers without error, every assertion and output declaration included, with axis a
at s and every other spatial axis at its reference size: the header's size where it writes
one, s itself where it writes `?` (a `3x?x?` network is swept on square inputs). With
several inputs, axis a of every input takes s at once. Budgets are not part of it.

The method is exact and fast. The network is lowered once, at a reference size, with its
assertions left out; then sets of sizes flow through the graph node by node: each node maps
the distinct types arriving at it through its op's own shape rule (`Op.infer_at`), and sizes
collapse fast through strides, so a node sees few distinct types. Sizes are kept as a
partition: one group id per swept size and a table of the groups' types, shared with the
node before where a layer keeps the partition. Two constructs build different layers at
different sizes, and the walk follows lowering's rule for them: a `residual` whose shortcut
archlang chose (identity when the shapes agree, else a 1x1 convolution whose stride takes
the input to the body's output, when one does) and `like=` (the value it names: the node
whose type object the op kept). Output declarations are checked on the outputs' types.
Assertions that pin sizes (a concrete spatial size, or a flat vector's features) are checked
by lowering the whole network at each size that the walk leaves and that some node of the
asserted channels and rank could match; assertions with `?` sizes check channels and rank,
which no size changes (the reference lowering checks them). `brute_force` lowers the whole
network at every size: the oracle of the tests and the baseline of bench/sizes_speed.py.
sizes_report.py holds what it finds: the records, their text and the terminal report.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace

from . import syntax as S
from .errors import ArchError
from .ir import Graph, TensorType
from .lower import lower_network
from .lower.assertions import shape_matches
from .lower.instantiate import PROJECTION
from .lower.limits import MAX_INT
from .ops.base import Op, OpError
from .sizes_report import Axis, Failure, Sizes, progression_text

__all__ = ["Axis", "Sizes", "sizes", "brute_force", "progression_text", "DEFAULT_MAX"]

DEFAULT_MAX = 4096
_REFERENCES = (224, 256, 512, 572, 128, 64, 1024, 32, 300, 600, 16, 2048, 8, 4096, 1, 2, 3, 4)


# -- the sweep: which input sizes one swept size gives


def _spatial_at(shape: S.Shape, axis: int, s: int) -> tuple[int, ...]:
    """An input's spatial sizes when axis `axis` (0-based) is at s: written sizes kept, `?` at s."""
    return tuple(s if j == axis or d is None else d for j, d in enumerate(shape.dims[1:]))


def _axes(net: S.Network) -> int:
    """Spatial axes to sweep: a feature map's (a token sequence has none; its length is not swept)."""
    return max((len(d.shape.dims) - 1 for d in net.inputs if d.shape.layout == "map"), default=0)


def _concrete(net: S.Network, spatial: list[tuple[int, ...]]) -> S.Network:
    inputs = tuple(replace(d, shape=replace(d.shape, dims=(d.shape.dims[0], *sp), written=""))
                   for d, sp in zip(net.inputs, spatial))
    return replace(net, inputs=inputs)


def _check_header(net: S.Network) -> None:
    """The errors that no size can mend (an open channel count, too many axes), from lowering's
    own input check, at a stand-in size."""
    from .lower import input_type

    for d in net.inputs:
        input_type(replace(d.shape, dims=tuple(64 if (v is None and j) else v for j, v in enumerate(d.shape.dims))))


def _lower_at(program, net: S.Network, axis: int, s: int, defs=None) -> Graph:
    spatial = [_spatial_at(d.shape, axis, s) for d in net.inputs]
    return lower_network(_concrete(net, spatial), defs or program.defs, program.limits)


# -- brute force: the oracle


def brute_force(program, name: str, max_size: int = DEFAULT_MAX) -> Sizes:
    """Lower the whole network at every size of every axis: exact, and slow (the oracle)."""
    net = program.defs.networks[name]
    _check_header(net)
    axes = []
    done: dict = {}
    for a in range(_axes(net)):
        config = tuple(tuple(_spatial_at(d.shape, a, -1)) for d in net.inputs)  # axes that take s: -1
        if config not in done:
            valid, errors = [], {}
            for s in range(1, max_size + 1):
                try:
                    _lower_at(program, net, a, s)
                    valid.append(s)
                except ArchError as err:
                    errors[s] = err
            done[config] = valid, tuple(Failure(s, _where(errors[s]), errors[s].message) for s in sorted(errors)
                                        if s + 1 <= max_size and s + 1 not in errors)
        valid, failures = done[config]
        axes.append(Axis(a + 1, tuple(valid), progression_text(valid), valid[0] if valid else None, failures))
    return Sizes(name, _header(net), max_size, tuple(axes))


def _where(err: ArchError) -> str:
    span = err.span
    return f"line {span.line}:{span.col}" if span is not None else "the network"


def _header(net: S.Network) -> str:
    return ", ".join(d.shape.text() for d in net.inputs)


# -- the fast method


def _strip(e, memo: dict):
    """The surface tree without its assertions (`f : S` becomes `f`)."""
    key = id(e)
    if key in memo:
        return memo[key]
    if isinstance(e, S.Assert):
        out = _strip(e.body, memo)
    elif isinstance(e, tuple):
        out = tuple(_strip(x, memo) for x in e)
    elif isinstance(e, (S.Expr, S.KwArg, S.Param)) and is_dataclass(e):
        changes = {}
        for f in fields(e):
            v = getattr(e, f.name)
            if isinstance(v, (S.Expr, S.KwArg, S.Param, tuple)):
                new = _strip(v, memo)
                if new is not v:
                    changes[f.name] = new
        out = replace(e, **changes) if changes else e
    else:
        out = e
    memo[key] = out
    return out


def _walk(e):
    """Every surface node under `e` (expressions, keyword arguments, parameters)."""
    if isinstance(e, tuple):
        for x in e:
            yield from _walk(x)
    elif isinstance(e, (S.Expr, S.KwArg, S.Param)) and is_dataclass(e):
        yield e
        for f in fields(e):
            v = getattr(e, f.name)
            if isinstance(v, (S.Expr, S.KwArg, S.Param, S.Shape, tuple)):
                yield from _walk(v)


def _sources(program, net: S.Network):
    yield net.body
    for b in program.defs.blocks.values():
        yield b.body
        yield b.params


def _residual_spans(program, net: S.Network) -> set:
    """Where `residual(f)` (archlang's shortcut, not one given with shortcut=) is written."""
    return {(e.span.source.name, e.span) for src in _sources(program, net) for e in _walk(src)
            if isinstance(e, S.Call) and e.func == "residual" and not any(k.name == "shortcut" for k in e.kwargs)}


def _pinning(program, net: S.Network) -> list[S.Shape]:
    """The assertions whose truth can change with the input size: a concrete spatial size, or
    a flat vector (whose features a flatten makes from sizes)."""
    return [e.shape for src in _sources(program, net) for e in _walk(src)
            if isinstance(e, S.Assert) and (len(e.shape.dims) == 1 or any(d is not None for d in e.shape.dims[1:]))]


class _Plan:
    """How each node's value at another size is found: per node, the nodes it reads and the rule."""

    def __init__(self, graph: Graph, residuals: set) -> None:
        index = {n.name: i for i, n in enumerate(graph.nodes)}
        self.nodes = graph.nodes
        self.outputs = tuple(index[o] for o in graph.outputs)
        self.deps: list[tuple[int, ...]] = []
        self.kind: list[str] = []  # input, keep (the partition and types of its input), op, residual, skip
        first_of_type: dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            first_of_type.setdefault(id(node.type), i)
            op = node.op
            if not node.inputs:
                self.kind.append("input")
                self.deps.append(())
                continue
            if node.scopes and node.scopes[-1].identity[:1] == (PROJECTION,):
                self.kind.append("skip")  # the residual's add reads its input instead
                self.deps.append(())
                continue
            deps = tuple(index[x] for x in node.inputs)
            if (node.span.source.name, node.span) in residuals and op.merge and len(deps) == 2:
                short = graph.nodes[deps[1]]
                if short.scopes and short.scopes[-1].identity[:1] == (PROJECTION,):
                    scope = short.scopes
                    head = next(n for n in graph.nodes if n.scopes[:len(scope)] == scope)
                    deps = (deps[0], index[head.inputs[0]])
                self.kind.append("residual")
                self.deps.append(deps)
                continue
            like = op.like_type
            if like is not None:
                deps = (*deps, first_of_type[id(like)])
            pointwise = type(op).infer_at is Op.infer_at and type(op).infer is Op.infer
            self.kind.append("keep" if pointwise and len(deps) == 1 else "op")
            self.deps.append(deps)


def _residual_out(y: TensorType, x: TensorType) -> TensorType:
    """torchvision's shortcut as lowering chooses it: identity when the shapes agree, else a 1x1
    convolution whose stride s = ceil(I/O) takes I to O, when ceil(I/s) = O on every axis."""
    if x != y:
        if x.rank == 0 or x.rank != y.rank or any(-(-i // -(-i // o)) != o for i, o in zip(x.spatial, y.spatial)):
            raise OpError(f"residual: no stride takes the input {x} to the body's output {y}")
    return y


class _Table:
    """One node's values over the swept sizes: ids[k] is size k+1's group, vals[g] the group's
    type (None: invalid)."""

    __slots__ = ("ids", "vals")

    def __init__(self, ids: list[int], vals: list[TensorType | None]) -> None:
        self.ids = ids
        self.vals = vals


def _propagate(plan: _Plan, starts: list[list[TensorType]], failed: dict[int, tuple[str, str]]) -> list[_Table]:
    """Every node's table; `failed` gets, per swept size (0-based) that fails, the first node
    that fails and its message."""
    tables: list[_Table | None] = []
    n_inputs = 0
    for i, node in enumerate(plan.nodes):
        kind = plan.kind[i]
        if kind == "skip":
            tables.append(None)
            continue
        if kind == "input":
            vals: list = [None]
            seen: dict = {}
            ids = []
            for t in starts[n_inputs]:
                g = seen.get(t)
                if g is None:
                    g = seen[t] = len(vals)
                    vals.append(t if t.numel <= MAX_INT else None)
                ids.append(g)
            n_inputs += 1
            tables.append(_Table(ids, vals))
            continue
        deps = plan.deps[i]
        if kind == "keep":
            tables.append(tables[deps[0]])
            continue
        op = node.op
        ins = [tables[d] for d in deps]
        if len(ins) == 1 or all(t.ids is ins[0].ids for t in ins):
            ids_in = ins[0].ids
            keys = [tuple(t.vals[g] for t in ins) for g in range(len(ins[0].vals))]
        else:
            joint: dict = {}
            ids_in = []
            keys = []
            for groups in zip(*(t.ids for t in ins)):
                g = joint.get(groups)
                if g is None:
                    g = joint[groups] = len(keys)
                    keys.append(tuple(t.vals[h] for t, h in zip(ins, groups)))
                ids_in.append(g)
        out_vals: list = [None]
        out_index: dict = {}
        remap = []
        fresh = {}  # group -> message, where this node fails
        for g, key in enumerate(keys):
            if any(v is None for v in key):
                remap.append(0)
                continue
            try:
                if kind == "residual":
                    t = _residual_out(key[0], key[1])
                elif op.like_type is not None:
                    t = op.infer_at(key[:-1], key[-1])
                else:
                    t = op.infer_at(key)
                if t.numel > MAX_INT:
                    raise OpError(f"the tensor {t} has {t.numel:,} elements, more than a 64-bit size can count")
            except OpError as err:
                fresh[g] = err.message
                remap.append(0)
                continue
            h = out_index.get(t)
            if h is None:
                h = out_index[t] = len(out_vals)
                out_vals.append(t)
            remap.append(h)
        if fresh:
            for k, g in enumerate(ids_in):
                if g in fresh and k not in failed:
                    failed[k] = (node.name, fresh[g])
        if remap == list(range(len(remap))) and len(out_vals) == len(remap):
            tables.append(_Table(ids_in, out_vals))  # the same partition
        else:
            tables.append(_Table([remap[g] for g in ids_in], out_vals))
    return tables


def _reference(program, net: S.Network, defs) -> tuple[Graph, int] | None:
    """The assertion-free network lowered at a size where it is valid, and that size (None:
    none of the usual sizes is)."""
    open_ = any(d is None for decl in net.inputs for d in decl.shape.dims[1:])
    tries = _REFERENCES if open_ else (None, *_REFERENCES)
    for s in tries:
        try:
            if s is None:
                return lower_network(net, defs, program.limits), 0
            spatial = [tuple(s if d is None else d for d in decl.shape.dims[1:]) for decl in net.inputs]
            return lower_network(_concrete(net, spatial), defs, program.limits), s
        except ArchError:
            continue
    return None


def sizes(program, name: str, max_size: int = DEFAULT_MAX) -> Sizes:
    """Every valid input size from 1 to max_size, per spatial axis (see the module docstring)."""
    from .lower import Definitions

    net = program.defs.networks[name]
    _check_header(net)
    memo: dict = {}
    defs = Definitions({k: replace(b, body=_strip(b.body, memo), params=_strip(b.params, memo))
                        for k, b in program.defs.blocks.items()}, program.defs.networks)
    bare = replace(net, body=_strip(net.body, memo), outputs=None)
    ref = _reference(program, bare, defs)
    if ref is None:
        return brute_force(program, name, max_size)
    plan = _Plan(ref[0], _residual_spans(program, net))
    pins = _pinning(program, net)
    done: dict = {}
    axes = []
    for a in range(_axes(net)):
        config = tuple(tuple(_spatial_at(d.shape, a, -1)) for d in net.inputs)  # -1 marks the swept sizes
        if config not in done:
            done[config] = _sweep(program, net, plan, a, max_size, pins)
        valid, failures = done[config]
        axes.append(Axis(a + 1, valid, progression_text(valid), valid[0] if valid else None, failures))
    return Sizes(name, _header(net), max_size, tuple(axes))


def _sweep(program, net: S.Network, plan: _Plan, a: int, max_size: int, pins: list[S.Shape]):
    starts = [[TensorType(d.shape.dims[0], _spatial_at(d.shape, a, s)) for s in range(1, max_size + 1)]
              for d in net.inputs]
    failed: dict[int, tuple[str, str] | None] = {}
    tables = _propagate(plan, starts, failed)
    graph_outputs = plan.outputs
    if net.outputs is not None and len(net.outputs) == len(graph_outputs):
        for i, shape in zip(graph_outputs, net.outputs):
            table = tables[i]
            for k in range(max_size):
                t = table.vals[table.ids[k]]
                if k not in failed and t is not None and not shape_matches(t, shape):
                    failed[k] = (plan.nodes[i].name,
                                 f"the shape here is {t}, not {shape.text()} as network {net.name} declares")
    candidates = [k for k in range(max_size) if k not in failed]
    if pins and candidates:
        candidates = _check_assertions(program, net, plan, tables, pins, candidates, a, failed)
    valid = tuple(k + 1 for k in candidates)
    below = [k for k in sorted(failed) if k + 1 < max_size and k + 1 not in failed]
    for k in below:
        if failed[k] is None:  # set aside by the assertions' necessary condition: lowering says why
            try:
                _lower_at(program, net, a, k + 1)
            except ArchError as err:
                failed[k] = (_where(err), err.message)
    return valid, tuple(Failure(k + 1, *failed[k]) for k in below)


def _check_assertions(program, net, plan: _Plan, tables, pins, candidates: list[int], a: int, failed) -> list[int]:
    """Sizes pinned by assertions: a size stays where, for every such assertion, some node of
    its rank and channels has its sizes there (a necessary condition); each that stays is
    lowered with the assertions to decide."""
    groups = []
    for shape in pins:
        rank = len(shape.dims) - 1
        nodes = [i for i, n in enumerate(plan.nodes) if tables[i] is not None and n.type.rank == rank
                 and (rank == 0 or shape.dims[0] in (None, n.type.channels))]
        groups.append((shape, nodes))
    kept = []
    for k in candidates:
        ok = all(any((t := tables[i].vals[tables[i].ids[k]]) is not None and shape_matches(t, shape) for i in nodes)
                 for shape, nodes in groups)
        if not ok:
            failed[k] = None
            continue
        try:
            _lower_at(program, net, a, k + 1)
            kept.append(k)
        except ArchError as err:
            failed[k] = (_where(err), err.message)
    return kept
