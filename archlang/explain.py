"""`archlang explain`: every layer's rules in plain words, with its numbers filled in.

    Network --explain--> LayerExplanation per layer --> text (rich in a terminal), JSON

A report over an analysed network (after the analyses): each op states its own shape,
channel, parameter and MAC rules (ops/base.Op's `explain_*`, ops/formula.Formula); this
module adds what is not one op's: the receptive-field recurrence of analysis/receptive_field.py
with the layer's input and output fields, and, where branches meet, which layers meet and,
for a residual, the shortcut lowering chose. Every figure equals what `archlang check`
reports (tests/test_explain.py proves it for every op of the registry).
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import replace
from fractions import Fraction

from .analysis.receptive_field import ReceptiveField
from .ir import Graph, Node, compact
from .lower.instantiate import PROJECTION
from .ops import GLOBAL
from .ops.formula import Formula, axis_names
from .network import LayerInfo, Network
from .records import record

__all__ = ["ShapeRule", "FieldStep", "Branch", "Merge", "LayerExplanation", "explain", "explanation_lines",
           "plain_text", "print_explanation", "to_dict", "UnknownLayer"]


class UnknownLayer(LookupError):
    """`--layer NAME` names no layer of the network; the message lists the closest names."""


@record
class ShapeRule:
    """The output shape and the lines of the op's rule that give it (none: the shape is kept)."""

    lines: tuple[Formula, ...]
    value: tuple[int, ...]
    written: str = ""  # the shape as tables print it (`[197]x768` for a sequence)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines) or f"kept: {self.written or 'x'.join(map(str, self.value))}"


@record
class FieldStep:
    """The receptive field from the layer's input to its output. `sizes` and `jumps` hold the
    per-axis formulas of a sliding window (empty where the field is kept, merged or global);
    `field` is the output's (None: global)."""

    field: ReceptiveField | None
    text: str
    sizes: tuple[Formula, ...] = ()
    jumps: tuple[Formula, ...] = ()

    def to_dict(self) -> dict:
        data = self.field.to_dict() if self.field else {"size": None, "jump": None}
        return {"size": data["size"], "jump": data["jump"], "formula": self.text}


@record
class Branch:
    name: str  # the layer whose value this branch brings
    shape: tuple[int, ...]
    role: str = ""  # residual only: "body" or "shortcut"


@record
class Merge:
    """Where branches meet: which layers, with their shapes; for a residual, its shortcut
    (`identity`, `projection` or `given`) and why."""

    branches: tuple[Branch, ...]
    rule: str
    shortcut: str | None = None
    reason: str | None = None

    @property
    def text(self) -> str:
        parts = [", ".join(f"{b.name} ({_shape(b.shape)}{', ' + b.role if b.role else ''})" for b in self.branches)
                 + f" meet: {self.rule}"]
        if self.shortcut:
            parts.append(f"residual, {self.shortcut} shortcut: {self.reason}")
        return "\n".join(parts)

    def to_dict(self) -> dict:
        return {"branches": [{"name": b.name, "shape": list(b.shape), **({"role": b.role} if b.role else {})}
                             for b in self.branches],
                "rule": self.rule, "shortcut": self.shortcut, "reason": self.reason}


@record
class LayerExplanation:
    name: str
    op: str
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    shape: ShapeRule
    channels: str
    params: Formula
    macs: Formula
    work: Formula  # every arithmetic operation (`check --count all`): the op's rule in words
    receptive_field: FieldStep | None  # None: the network has no spatial axes to see
    merge: Merge | None
    shapes_text: str = ""  # `[16]x32 -> [16]x32`, the shapes as tables print them

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "output_shape": list(self.output_shape),
            "shape_rule": {"formula": self.shape.text, "value": list(self.shape.value)},
            "channels": self.channels,
            "params": {"formula": self.params.text, "value": self.params.value},
            "macs": {"formula": self.macs.text, "value": self.macs.value},
            "work": {"formula": self.work.text, "value": self.work.value},
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
            "merge": self.merge.to_dict() if self.merge else None,
        }


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def explain(net: Network, layer: str | None = None) -> tuple[LayerExplanation, ...]:
    """Every layer's explanation, or only `layer`'s (UnknownLayer, naming the closest, when
    there is none)."""
    infos = net.layers
    if layer is not None:
        infos = tuple(info for info in net.layers if info.name == layer)
        if not infos:
            names = [info.name for info in net.layers]
            close = difflib.get_close_matches(layer, names, n=3, cutoff=0.6)
            raise UnknownLayer(f"no layer named '{layer}' in {net.name}"
                               + (f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else "")
                               + "; `archlang check` lists the layers")
    fields = {info.name: info.receptive_field for info in net.layers}
    fields.update({n.name: _input_field(n) for n in net.graph.inputs})
    spatial = any(n.type.rank or n.type.tokens for n in net.graph.inputs)
    return tuple(_explain_layer(net.graph, info, fields, spatial) for info in infos)


def _input_field(node: Node) -> ReceptiveField | None:
    rank = 1 if node.type.tokens else node.type.rank
    return ReceptiveField((1,) * rank, (1,) * rank, (0,) * rank) if rank else None


def _explain_layer(graph: Graph, info: LayerInfo, fields: dict, spatial: bool) -> LayerExplanation:
    node = info.node
    inputs = graph.input_types(node)
    op = node.op
    return LayerExplanation(
        name=node.name,
        op=info.op,
        input_shapes=tuple(t.shape for t in inputs),
        output_shape=node.type.shape,
        shape=ShapeRule(op.explain_shape(inputs, node.type), node.type.shape, str(node.type)),
        channels=op.explain_channels(inputs, node.type),
        params=op.explain_params(),
        macs=op.explain_macs(inputs, node.type),
        work=Formula("", op.work(inputs, node.type), note=op.work_rule),
        receptive_field=_field_step(node, inputs, [fields[i] for i in node.inputs], fields[node.name]) if spatial else None,
        merge=_merge(graph, node) if op.merge else None,
        shapes_text=f"{', '.join(str(t) for t in inputs)} -> {node.type}",
    )


# -- receptive field: the recurrences of analysis/receptive_field.py, with numbers

def _num(x) -> str:
    return str(x)  # ints as ints, Fractions as 1/2


def _exact(x):
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def _field_step(node: Node, types, ins: list[ReceptiveField | None], out: ReceptiveField | None) -> FieldStep:
    window = node.op.window_on(types)
    if any(f is None for f in ins):
        return FieldStep(out, "global, as its input's is: every output unit sees the whole input")
    if window is GLOBAL or (node.type.rank == 0 and not node.type.tokens):
        return FieldStep(out, f"global: {node.op.name} makes every output see the whole input")
    field = ins[0]
    note = ""
    if len(ins) > 1:
        size = tuple(max(f.size[a] for f in ins) for a in range(len(field.size)))
        jump = tuple(max(f.jump[a] for f in ins) for a in range(len(field.jump)))
        field = ReceptiveField(size, jump, field.start)
        note = "the widest of the branches': "
    if window is None:
        return FieldStep(out, f"{note or 'kept: '}size {compact(out.size)}, jump {compact(out.jump)}"
                         if out else "global")
    sizes, jumps, lines = [], [], []
    for r, j, k, s, d in zip(field.size, field.jump, window.kernel, window.stride, window.dilation):
        grow = f"{_num(k)} - 1" if d == 1 else f"{d} x ({_num(k)} - 1)"
        size = Formula(f"{_num(r)} + ({grow}) x {_num(j)}" if d == 1 else f"{_num(r)} + {grow} x {_num(j)}",
                       _exact(r + d * (k - 1) * j))
        jump = Formula(f"{_num(j)} x {_num(s)}", _exact(j * s))
        sizes.append(size)
        jumps.append(jump)
        lines.append(f"size {_num(r)} -> {_num(size.value)} = {size.numbers}; "
                     f"jump {_num(j)} -> {_num(jump.value)} = {jump.numbers}")
    if out is None:
        return FieldStep(None, "global: the field outgrows any input", tuple(sizes), tuple(jumps))
    if len(set(lines)) == 1:
        text = lines[0]
    else:
        names = axis_names(len(lines))
        text = "\n".join(f"{name}: {line}" for name, line in zip(names, lines))
    return FieldStep(out, note + text, tuple(sizes), tuple(jumps))


# -- merges and residuals

def _merge(graph: Graph, node: Node) -> Merge:
    ins = graph.inputs_of(node)
    rule = node.op.explain_channels(graph.input_types(node), node.type).split(":")[0]
    branches = [Branch(n.name, n.type.shape) for n in ins]
    if node.op.name != "add" or len(ins) != 2:
        return Merge(tuple(branches), rule)
    body, short = ins
    scope = short.scopes[-1] if short.scopes else None
    tag = scope.identity[:1] if scope else ()
    if tag == (PROJECTION,):
        path = tuple(s.name for s in short.scopes)
        conv = next(n for n in graph.nodes if tuple(s.name for s in n.scopes) == path)
        x = graph.inputs_of(conv)[0].type
        why = []
        if x.channels != node.type.channels:
            why.append(f"the body changes the channels, {x.channels} -> {node.type.channels}")
        if x.spatial != node.type.spatial:
            why.append(f"its stride changes the size, {_shape(x.spatial)} -> {_shape(node.type.spatial)}")
        reason = (f"{'.'.join(path)} = {conv.op.label()} -> bn (torchvision's), because " + " and ".join(why))
        shortcut = "projection"
    elif tag == ("shortcut",):
        shortcut, reason = "given", f"residual(f, shortcut={scope.label if scope.label != 'shortcut' else '...'})"
    elif _ancestor(graph, short, body):
        shortcut = "identity"
        reason = f"{short.name}'s value joins unchanged, as the body keeps its shape {_shape(short.type.shape)}"
    else:
        return Merge(tuple(branches), rule)
    branches = [replace(branches[0], role="body"), replace(branches[1], role="shortcut")]
    return Merge(tuple(branches), rule, shortcut, reason)


def _ancestor(graph: Graph, a: Node, b: Node) -> bool:
    """Whether b's value is computed from a's."""
    seen, todo = set(), [b]
    while todo:
        n = todo.pop()
        for i in n.inputs:
            if i == a.name:
                return True
            if i not in seen:
                seen.add(i)
                todo.append(graph.node(i))
    return False


# -- output

def explanation_lines(exp: LayerExplanation) -> list[tuple[str, str]]:
    """(key, text) rows of one layer, in print order; a text may span lines."""
    rows = [("shape", exp.shape.text), ("channels", exp.channels), ("params", exp.params.text),
            ("MACs", exp.macs.text), ("work", exp.work.text)]
    if exp.receptive_field:
        rows.append(("RF", exp.receptive_field.text))
    if exp.merge:
        rows.append(("merge", exp.merge.text))
    return rows


def _heading(exp: LayerExplanation) -> str:
    return f"{exp.name}  {exp.op}  {exp.shapes_text}"


def plain_text(net: Network, explanations: tuple[LayerExplanation, ...]) -> str:
    """What `archlang explain` prints when stdout is not a terminal."""
    out = [f"{net.name}  {net.graph.signature}", ""]
    width = max(len(k) for k in ("shape", "channels", "params", "MACs", "work", "RF", "merge"))
    for exp in explanations:
        out.append(_heading(exp))
        for key, text in explanation_lines(exp):
            for i, line in enumerate(text.splitlines()):
                out.append(f"  {(key if i == 0 else '').ljust(width)}  {line}")
        out.append("")
    return "\n".join(out)


def print_explanation(net: Network, explanations: tuple[LayerExplanation, ...], file=None) -> None:
    """Plain text, or in a terminal a rich panel per layer."""
    file = file or sys.stdout
    if not (file.isatty() and "NO_COLOR" not in os.environ):
        file.write(plain_text(net, explanations) + "\n")
        return
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = Console(file=file)
    console.print(Text(f"{net.name}  {net.graph.signature}", style="bold"))
    for exp, info in zip(explanations, (net.layer(e.name) for e in explanations)):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for key, text in explanation_lines(exp):
            grid.add_row(key, Text(text))
        style = info.family.style if info.family.style != "default" else "white"
        title = Text.assemble((exp.name, "bold"), "  ", (exp.op, style), "  ",
                              exp.shapes_text)
        console.print(Panel(grid, title=title, title_align="left", border_style=style))


def to_dict(net: Network, explanations: tuple[LayerExplanation, ...]) -> dict:
    return {"network": net.name, "layers": [e.to_dict() for e in explanations]}
