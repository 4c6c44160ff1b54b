"""`archlang diff`: a structural comparison of two analysed networks (after the analyses).

    Network A, Network B --align layers--> Diff --text() | to_dict() | backends/diff_dot--> report

The layers (in topological order) are paired by `alignment.align` (difflib on their op's IR
text, block instance by block instance). A pair whose op text differs is changed, with the
fields that differ; the layers in no pair are added (B) or removed (A). A shape change
starts at the first layer whose output type differs while nothing before it does (or at the
added or removed layer before it), and propagates through the layers after it whose types
differ.
Repeats are runs of sibling block instances with the same block and first argument:
`bottleneck(256, 2) -> bottleneck(256) * 5` is 6 `bottleneck(256)`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, field, fields, replace
from itertools import groupby

from . import json_text
from .alignment import align
from .errors import ArchError
from .ir import Graph, Node, Scope, TensorType, _op_text, sizes_text
from .network import Network
from .records import record

__all__ = ["compare", "Diff", "Layer", "Change", "Repeat", "ShapeChange", "Total", "IncomparableNetworks",
           "add_command"]

SHOWN = 20  # lines per section of the text report; --json lists everything
SHAPES_SHOWN = 5  # shape changes in the summary (a wider ResNet has one per block)


class IncomparableNetworks(ArchError):
    kind = "diff"


@record
class Total:
    """A figure (params, MACs) before and after."""

    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before

    @property
    def percent(self) -> float | None:
        """The change in percent of `before`; None when `before` is 0."""
        return 100 * self.delta / self.before if self.before else None

    def text(self) -> str:
        p, share = self.percent, ""
        if p is not None:  # two decimals, or two significant digits below 1%: +0.0061%
            share = " (0%)" if p == 0 else f" ({p:+.{max(2, 1 - math.floor(math.log10(abs(p))))}f}%)"
        return f"{self.before:,} -> {self.after:,}  {self.delta:+,}{share}"

    def to_dict(self) -> dict:
        p = self.percent
        return {**asdict(self), "delta": self.delta, "percent": None if p is None else round(p, 6)}


@record
class Layer:
    """A layer added to B or removed from A."""

    name: str
    op: str  # the op's name: `bn`
    label: str  # as tables show it: `conv 3x3, 64`
    shape: str
    params: int
    macs: int
    block: str = ""  # the outermost block instance around it that was added or removed whole
    block_label: str = ""  # that instance as called: `bottleneck(256)`


@record
class Change:
    """A layer of both with the same op and other arguments: (field, before, after) each."""

    name: str  # in B
    was: str  # in A
    op: str
    fields: tuple[tuple[str, object, object], ...]

    def text(self) -> str:
        where = f"'{self.name}'" + (f" (was '{self.was}')" if self.was != self.name else "")
        return f"{self.op} {where}: " + ", ".join(f"{f} {_value(x)} -> {_value(y)}" for f, x, y in self.fields)

    def to_dict(self) -> dict:
        return {"name": self.name, "was": self.was, "op": self.op,
                "fields": [{"field": f, "before": _json(x), "after": _json(y)} for f, x, y in self.fields]}


@record
class Repeat:
    """A run of sibling instances of one block (same first argument) that got longer or shorter."""

    block: str  # `bottleneck(256)`
    within: str  # the enclosing block instance's path in B, "" at the top
    before: int
    after: int

    def text(self) -> str:
        return f"{self.block}: {self.before} -> {self.after} repeats" + (f" (in {self.within})" if self.within else "")


@record
class ShapeChange:
    """Where a shape first differs, and how far the difference goes (B's layers)."""

    layer: str  # B's name, or A's for a removed layer
    op: str
    kind: str  # "layer" (one of both), "added", "removed" or "input"
    before: str
    after: str
    layers: int  # B's layers whose shape differs from here on
    reaches_output: bool
    last: str  # the last of them

    def text(self) -> str:
        where = "the input" if self.kind == "input" else \
            f"{'' if self.kind == 'layer' else f'the {self.kind} '}{self.op} '{self.layer}'"
        reach = "reaches the output" if self.reaches_output else f"ends at '{self.last}'"
        return (f"shape change starts at {where}: {self.before} -> {self.after}; it {reach} "
                f"({self.layers} layer{'s' if self.layers != 1 else ''})")


@record
class Diff:
    """What `compare(a, b)` found. `pairs`: the (A, B) names of every matched node."""

    a: str
    b: str
    signatures: tuple[str, str]
    added: tuple[Layer, ...]
    removed: tuple[Layer, ...]
    changed: tuple[Change, ...]
    repeats: tuple[Repeat, ...]
    shape_changes: tuple[ShapeChange, ...]
    params: Total
    macs: Total
    pairs: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed or self.shape_changes
                    or self.signatures[0] != self.signatures[1])

    def counts(self) -> dict[str, dict[str, int]]:
        """Layers added, removed and changed, by op, most first."""
        return {what: dict(Counter(x.op for x in getattr(self, what)).most_common())
                for what in ("added", "removed", "changed")}

    def summary(self) -> list[str]:
        """The headline sentences: `13 bn layers added, +8,448 params`, repeats, shape changes."""
        counts, lines = self.counts(), []
        for what, layers, sign in (("added", self.added, 1), ("removed", self.removed, -1)):
            if layers:
                params = sign * sum(x.params for x in layers)
                lines.append(_counted(counts[what], what) + (f", {params:+,} params" if params else ""))
        if self.changed:
            lines.append(_counted(counts["changed"], "changed"))
        more = len(self.shape_changes) - SHAPES_SHOWN
        return (lines + [r.text() for r in self.repeats] + [s.text() for s in self.shape_changes[:SHAPES_SHOWN]]
                + ([f"... and {more} more shape changes"] if more > 0 else []))

    def text(self) -> str:
        sa, sb = self.signatures
        head = f"{self.a} -> {self.b}  " + (f"({sa})" if sa == sb else f"({sa} => {sb})")
        if self.identical:
            return f"{head}\n  no structural differences ({self.params.after:,} params, {self.macs.after:,} MACs)"
        lines = [head, *("  " + s for s in self.summary())]
        for what, layers, sign in (("added", self.added, "+"), ("removed", self.removed, "-")):
            if layers:
                lines += ["", f"  {what}", *_grouped(layers, sign)]
        if self.changed:
            lines += ["", "  changed", *_capped(["    " + c.text() for c in self.changed])]
        return "\n".join(lines + ["", f"  params  {self.params.text()}", f"  MACs    {self.macs.text()}"])

    def to_dict(self) -> dict:
        return {
            "a": self.a, "b": self.b, "identical": self.identical,
            "signature": {"a": self.signatures[0], "b": self.signatures[1]},
            "totals": {"params": self.params.to_dict(), "macs": self.macs.to_dict()},
            "counts": self.counts(), "summary": self.summary(),
            "added": [asdict(x) for x in self.added], "removed": [asdict(x) for x in self.removed],
            "changed": [x.to_dict() for x in self.changed], "repeats": [asdict(x) for x in self.repeats],
            "shape_changes": [asdict(x) for x in self.shape_changes],
        }


def _counted(by_op: dict[str, int], what: str) -> str:
    """`13 bn layers added`; with several ops, `170 layers added (51 conv, 51 bn, ...)`."""
    total = sum(by_op.values())
    noun = "layer" if total == 1 else "layers"
    if len(by_op) == 1:
        return f"{total} {next(iter(by_op))} {noun} {what}"
    return f"{total} {noun} {what} (" + ", ".join(f"{n} {op}" for op, n in by_op.items()) + ")"


def _capped(lines: list[str]) -> list[str]:
    more = [f"    ... and {len(lines) - SHOWN} more (--json lists them all)"] if len(lines) > SHOWN else []
    return lines[:SHOWN] + more


def _grouped(layers: tuple[Layer, ...], sign: str) -> list[str]:
    """One line per layer, but one for a block instance added or removed whole, and one for
    consecutive such instances of one call: `bottleneck(256) x17 'bottleneck14' .. 'bottleneck30'`."""
    groups: list[list] = []  # [label, first, last, instances, layers, params, shape]
    for x in layers:
        last = groups[-1] if groups and groups[-1][3] and groups[-1][0] == x.block_label else None
        if not x.block:
            groups.append([x.label, x.name, x.name, 0, 1, x.params, x.shape])
        elif last and last[2] == x.block:
            last[4:6] = last[4] + 1, last[5] + x.params
        elif last and x.block.rpartition(".")[0] == last[2].rpartition(".")[0]:
            last[2:6] = x.block, last[3] + 1, last[4] + 1, last[5] + x.params
        else:
            groups.append([x.block_label, x.block, x.block, 1, 1, x.params, ""])
    lines = []
    for label, first, last, count, n, params, shape in groups:
        figure = f"  {sign}{params:,} params" if params else ""
        if not count:
            lines.append(f"    {label} '{first}'  {shape}{figure}")
        else:
            where = f"'{first}'" if count == 1 else f"x{count} '{first}' .. '{last}'"
            lines.append(f"    {label} {where}  {n} layers{figure}")
    return _capped(lines)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple) and v and all(type(x) is int for x in v):
        return sizes_text(v)
    return str(v)


def _json(v: object) -> object:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return [_json(x) for x in v] if isinstance(v, tuple) else str(v)


# ---------------------------------------------------------------- comparing


def compare(a: Network, b: Network) -> Diff:
    """The structural differences from `a` to `b`. IncomparableNetworks (an ArchError) where
    their inputs differ in rank or layout (a 1-D signal and an image)."""
    ga, gb = a.graph, b.graph
    for (_, ta), (_, tb) in zip(a.inputs, b.inputs):
        if _layout(ta) != _layout(tb):
            raise IncomparableNetworks(
                f"cannot compare {a.name} with {b.name}: {a.name} reads {_layout(ta)} ({ta}), "
                f"{b.name} reads {_layout(tb)} ({tb})",
                hint="diff compares versions of one architecture, whose inputs have the same rank")
    pairs = align(ga.layers, gb.layers) + [(x.name, y.name) for x, y in zip(ga.inputs, gb.inputs)]
    to_a, to_b = {y: x for x, y in pairs}, dict(pairs)
    order = {n.name: i for i, n in enumerate(gb.nodes)}
    changed = []
    for na, nb in sorted(pairs, key=lambda p: order[p[1]]):
        x, y = ga.node(na).op, gb.node(nb).op
        if gb.node(nb).inputs and _op_text(x) != _op_text(y):
            diffs = tuple((f.name, getattr(x, f.name), getattr(y, f.name)) for f in fields(x)
                          if getattr(x, f.name) != getattr(y, f.name))
            changed.append(Change(nb, na, y.name, diffs))
    return Diff(a.name, b.name, (ga.signature, gb.signature), _unpaired(b, to_a), _unpaired(a, to_b),
                tuple(changed), _repeats(ga, gb), _shape_changes(ga, gb, to_a, to_b),
                Total(a.total_params, b.total_params), Total(a.total_macs, b.total_macs), tuple(pairs))


def _layout(t: TensorType) -> str:
    if t.tokens:
        return "token indices" if t.ids else "a token sequence"
    return f"a {t.rank}-D input" if t.rank else "a feature vector"


def _unpaired(net: Network, paired: dict) -> tuple[Layer, ...]:
    """The layers of `net` without a counterpart, each with the outermost block instance
    around it that has no paired layer at all (added or removed whole)."""
    sizes: Counter = Counter()
    alone: Counter = Counter()
    for node in net.graph.layers:
        for depth in range(1, len(node.scopes) + 1):
            path = ".".join(s.name for s in node.scopes[:depth])
            sizes[path] += 1
            alone[path] += node.name not in paired
    out = []
    for info in net.layers:
        node = info.node
        if node.name in paired:
            continue
        paths = [(".".join(s.name for s in node.scopes[:d]), node.scopes[d - 1].label)
                 for d in range(1, len(node.scopes) + 1)]
        block, label = next(((p, lab) for p, lab in paths if alone[p] == sizes[p]), ("", ""))
        out.append(Layer(node.name, node.op.name, info.op, str(node.type), info.params, info.macs, block, label))
    return tuple(out)


def _shape_changes(ga: Graph, gb: Graph, to_a: dict, to_b: dict) -> tuple[ShapeChange, ...]:
    differs: set[str] = set()  # B's nodes whose type differs from their pair's, and added ones after them
    starts = []
    for node in gb.nodes:
        upstream = any(i in differs for i in node.inputs)
        if node.name not in to_a:
            differs.update((node.name,) if upstream else ())
        elif node.type != ga.node(to_a[node.name]).type:
            differs.add(node.name)
            starts += [] if upstream else [node]
    order = {n.name: i for i, n in enumerate(gb.nodes)}
    found = []
    for node in starts:
        reached, todo = {node.name}, [node.name]
        while todo:
            for user in gb.users(todo.pop()):
                if user.name in differs and user.name not in reached:
                    reached.add(user.name)
                    todo.append(user.name)
        other = ga.node(to_a[node.name])
        kind, start, before, after = ("layer" if node.inputs else "input"), node, other.type, node.type
        ins_a, ins_b = ga.input_types(other), gb.input_types(node)
        if ins_a != ins_b:  # what came before it was added or removed: the change starts there
            p = next((k for k, (x, y) in enumerate(zip(ins_a, ins_b)) if x != y), 0)
            xa, xb = ga.node(other.inputs[p]), gb.node(node.inputs[p])
            if xb.name not in to_a:
                kind, start, before, after = "added", _first_reshaping(gb, xb, to_a), xa.type, xb.type
            elif xa.name not in to_b:
                kind, start, before, after = "removed", _first_reshaping(ga, xa, to_b), xa.type, xb.type
        found.append(ShapeChange(start.name, start.op.name, kind, str(before), str(after), len(reached),
                                 any(n in gb.outputs for n in reached), max(reached, key=order.__getitem__)))
    return tuple(found)


def _first_reshaping(g: Graph, node: Node, paired: dict) -> Node:
    """Of the unpaired layers in a chain that ends at `node`, the first that changes its input's shape."""
    chain = [node]
    while chain[-1].inputs and chain[-1].inputs[0] not in paired:
        chain.append(g.node(chain[-1].inputs[0]))
    return next((n for n in reversed(chain) if n.inputs and n.type != g.input_types(n)[0]), node)


def _runs(g: Graph) -> dict[tuple, tuple[str, int]]:
    """Runs of sibling block instances with the same block and first argument: (parent path,
    block, first argument, k-th such run under that parent) -> (label, length)."""
    children: dict[tuple[str, ...], dict[str, Scope]] = {}
    for node in g.layers:
        for depth in range(1, len(node.scopes) + 1):
            path = tuple(s.name for s in node.scopes[:depth])
            children.setdefault(path[:-1], {}).setdefault(path[-1], node.scopes[depth - 1])
    runs: dict[tuple, tuple[str, int]] = {}
    for parent, scopes in children.items():
        seen: Counter = Counter()
        for kind, group in groupby(scopes.values(), key=lambda s: (s.block, s.identity[1:2] and s.identity[1][:1])):
            run = list(group)
            runs[(".".join(parent), *kind, seen[kind])] = (_run_label(run[0], kind[1]), len(run))
            seen[kind] += 1
    return runs


def _run_label(scope: Scope, first: tuple) -> str:
    """`bottleneck(256)`: the block and its first argument where that is a number or a bool."""
    if first and isinstance(first[0], tuple) and len(first[0]) == 2 and first[0][0] in ("int", "float", "bool"):
        return f"{scope.block}({_value(first[0][1])})"
    return scope.label if first else scope.block


def _repeats(ga: Graph, gb: Graph) -> tuple[Repeat, ...]:
    ra, rb = _runs(ga), _runs(gb)
    return tuple(Repeat(label, key[0], ra[key][1], n) for key, (label, n) in rb.items()
                 if key in ra and ra[key][1] != n)


# ---------------------------------------------------------------- the command


def add_command(sub) -> None:
    cmd = sub.add_parser(
        "diff", usage="archlang diff A B [-n NAME [-n NAME]] [--json] [-o diff.svg|png|pdf|dot]\n"
        "       archlang diff FILE -n NAME -n NAME",
        help="compare two networks: layers added, removed and changed, repeats, shape changes, totals",
        description="Compare network A with network B: the layers added, removed and changed (with the "
        "arguments that differ), runs of a block that got longer or shorter, where a shape change starts and how "
        "far it goes, and the parameter and MAC totals before -> after. A and B are each a .arch file, FILE:NAME "
        "(one network of a file), a bundled network such as resnet50, or - for standard input; or give one file "
        "and -n twice to compare two of its networks. The exit status is 0 whenever the comparison ran, "
        "whether or not the networks differ (as `git diff --no-index` without --exit-code).",
        epilog="examples: archlang diff vgg16 vgg16_bn;  archlang diff specs/vgg.arch -n vgg16 -n vgg16_bn;  "
        "archlang diff old.arch new.arch -n net -o diff.svg")
    cmd.add_argument("a", metavar="A", help="the network before: FILE.arch, FILE.arch:NAME, a bundled network, -")
    cmd.add_argument("b", metavar="B", nargs="?", help="the network after (the same forms)")
    cmd.add_argument("-n", "--network", metavar="NAME", action="append", default=[],
                     help="pick a network: once, in each file; twice, the first for A and the second for B "
                     "(with one FILE, its two networks)")
    cmd.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmd.add_argument("-o", "--output", metavar="OUT", help="also draw the merged graph (added green, removed red, "
                     "changed amber) to out.svg, out.png, out.pdf or out.dot")
    cmd.set_defaults(run=_run)


def _run(args) -> int:
    import sys
    from pathlib import Path

    from .cli import EXIT_OK, UsageError, _check_output, _print_stdout
    from .output import OutputError

    sides = _sides(args)
    inputs = [spec for spec, _ in sides if _is_file(spec)]
    if args.output:
        from .extras import require

        require("graphviz", job="archlang diff -o")
        from .backends.dot import GRAPHVIZ_FORMATS as FORMATS

        if Path(args.output).suffix.lstrip(".").lower() not in FORMATS:
            raise UsageError(f"cannot draw to '{Path(args.output).suffix or args.output}'; formats: "
                             + ", ".join("." + f for f in FORMATS))
        _check_output(args, inputs)
    a, b = _networks(sides)
    result = compare(a, b)  # inputs of another rank stop here, before anything is written
    if a.name == b.name and sides[0][0] != sides[1][0]:
        result = replace(result, a=f"{sides[0][0]}:{a.name}", b=f"{sides[1][0]}:{b.name}")
    if args.output:
        from .backends.diff_dot import render

        try:
            render(result, a.graph, b.graph, args.output, inputs=inputs)
        except OutputError as err:
            raise UsageError(str(err)) from None
    _print_stdout(json_text.dumps(result.to_dict()) if args.json else result.text())
    if args.output:
        print(f"wrote {args.output} ({result.a} -> {result.b})", file=sys.stderr)
    return EXIT_OK


def _is_file(spec: str) -> bool:
    from pathlib import Path

    try:
        return spec != "-" and Path(spec).is_file()
    except (OSError, ValueError):
        return False


def _sides(args) -> list[tuple[str, str | None]]:
    """(spec, network name or None) for A and for B. `FILE:NAME` names a network of a file
    (unless a file has that whole name); -n once names the network in both, twice one each."""
    from .cli import UsageError

    names = args.network
    if len(names) > 2 or (args.b is None and len(names) != 2):
        raise UsageError("diff compares two networks: give A and B (each a file, FILE:NAME or a bundled network) "
                         "and -n at most twice, or one file and -n twice")
    if args.b is None:
        return [(args.a, names[0]), (args.a, names[1])]
    sides = []
    for spec, given in zip((args.a, args.b), names * 2 if len(names) == 1 else names or [None, None]):
        path, colon, name = spec.rpartition(":")
        if not (colon and path and name.isidentifier() and not _is_file(spec)):
            path, name = spec, None
        if name is not None and given is not None:
            raise UsageError(f"{spec} names its network; leave out -n {given}")
        sides.append((path, name or given))
    return sides


def _networks(sides) -> list[Network]:
    """The analysed networks; a file (or standard input) named on both sides is read once."""
    from argparse import Namespace

    from .cli import UsageError, _program

    programs: dict = {}
    out = []
    for spec, name in sides:
        program = programs[spec] = programs.get(spec) or _program(Namespace(spec=spec, network=None))[0]
        if name is None and program.default is None and len(program.networks) > 1:
            raise UsageError(f"{spec} defines {len(program.networks)} networks; choose one with {spec}:NAME "
                             f"or -n NAME: {', '.join(program.networks)}")
        try:
            name = program.network_name(name)
        except ArchError as err:  # a name the file lacks
            raise UsageError(err.render().removeprefix("error: ").replace("\n  hint:", ";")) from None
        out.append(program.network(name))
    return out
