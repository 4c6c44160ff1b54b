"""Backend: an IR graph -> a Graphviz diagram (DOT with the graphviz package; SVG, PNG and PDF
through Graphviz's `dot`).

A node per layer, labelled by its op (`conv 3x3 /2, 64`) and coloured by its family; edges
carry the tensor shape; merges are circles with their op's glyph, with skip inputs (a
residual's shortcut) drawn beside the main path; block instances are nested clusters
labelled as called (`bottleneck(128, 2)`). Options:
- collapse: a run of calls of the same block with the same arguments (`bottleneck(64) * 3`)
  that follow each other on one path (each instance reads only the previous one's single
  output, which nothing else reads) becomes one node with an `x3` badge;
- fold: a convolution or fc layer and the normalisation and activation right after it
  become one node (`conv 3x3, 64 · bn · relu`), as do a pre-activation chain
  (`bn · relu · conv 1x1, 128`, DenseNet's order) and a norm with its activation;
- rankdir: TB (top to bottom) or LR; show: params, macs, flops (2 x MACs), mem (the output's size per
  sample, float32) and/or rf under each label.

Every text that reaches the DOT source passes through `_text` and the graphviz package's
quoting; node and cluster identifiers are generated (`n12`, `cluster_3`), never spec text.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import graphviz

from ..analysis import receptive_fields
from ..analysis.walk import walk
from ..analysis.receptive_field import Rational
from ..errors import ArchError
from ..ir import Graph, Node, Scope, compact
from ..ops import Family
from ..records import record
from ..units import bytes_text, si
from .svg_fonts import embed_fonts
from .themes import FONT, THEMES, Theme

__all__ = ["DiagramOptions", "to_dot", "render", "svg", "FORMATS", "GRAPHVIZ_FORMATS", "DotMissing", "MAX_DRAWN"]

GRAPHVIZ_FORMATS = ("svg", "png", "pdf", "dot")  # what Graphviz draws (diff's diagram too)
FORMATS = (*GRAPHVIZ_FORMATS, "tex")  # tex: TikZ (backends/tikz.py), from Graphviz's layout
SHOW = ("params", "macs", "flops", "mem", "rf")
MAX_DRAWN = 2_000  # boxes Graphviz lays out in seconds; beyond, it takes minutes

BLOCK_LEGEND = "repeated block"  # a collapsed run of block instances
SKIP_COLOUR = THEMES["default"].skip_colour
DPI = (150, 36, 1200)  # PNG: the default, and the range --dpi takes (a print-ready file: 300)


class DotMissing(ArchError):
    kind = "graphviz"


@record
class DiagramOptions:
    collapse: bool = False
    fold: bool = False
    rankdir: str = "TB"
    show: tuple[str, ...] = ()
    theme: str = "default"
    dpi: int | None = None  # PNG only: None is DPI[0]
    width: float | None = None  # inches: scale the drawing to fit (--width, --height)
    height: float | None = None
    tikz_body: bool = False  # .tex: only the tikzpicture, for \input

    def __post_init__(self) -> None:
        if self.rankdir not in ("TB", "LR"):
            raise ValueError(f"rankdir must be TB or LR, not {self.rankdir!r}")
        if self.theme not in THEMES:
            raise ValueError(f"unknown theme {self.theme!r} (themes: {', '.join(THEMES)})")
        if self.dpi is not None and not DPI[1] <= self.dpi <= DPI[2]:
            raise ValueError(f"--dpi takes {DPI[1]} to {DPI[2]} dots per inch, not {self.dpi} (300 is print quality)")
        unknown = set(self.show) - set(SHOW)
        if unknown:
            raise ValueError(f"unknown --show figures: {', '.join(sorted(unknown))} (known: {', '.join(SHOW)})")


def _text(value: object) -> str:
    """Text for a label: printable characters only, backslashes doubled (dot reads \\l, \\N)."""
    text = re.sub(r"[\x00-\x1f\x7f]", " ", str(value))
    return text.replace("\\", "\\\\")


def _short(n: int) -> str:
    """3 significant digits: '1.23M'."""
    return si(n, ".3g", "")


@dataclass
class _Item:
    """One box of the diagram: a layer, a folded chain of layers, or a collapsed run of blocks."""

    id: str
    members: list[Node]
    label: str
    family: Family | None  # None: a collapsed run of blocks
    scopes: tuple[Scope, ...]  # the clusters it sits in
    badge: int = 0  # the run length of a collapsed block
    extra: list[str] = field(default_factory=list)


_WEIGHTED = (Family.CONV, Family.FC, Family.ATTENTION, Family.RECURRENT)


def _folds(families: list[Family]) -> bool:
    """Whether layers of these families, one after another, make one folded box: conv|fc,
    then a norm and an activation (each optional, in that order), as ResNet writes them; or
    the pre-activation order DenseNet uses, a norm and an activation (optional) before the
    conv|fc, which ends the chain."""
    weighted, norm, act = _WEIGHTED, (Family.NORM,), (Family.ACTIVATION,)
    for shape in ((weighted, norm, act), (weighted, act), (norm, act, weighted), (norm, weighted)):
        if len(families) <= len(shape) and all(f in allowed for f, allowed in zip(families, shape)):
            return True
    return False


def _runs(graph: Graph) -> dict[str, tuple[tuple[Scope, ...], int, str]]:
    """Collapsible runs: block instances under one parent, one after another, with the same
    identity (block and argument values), each reading only the previous one's single output,
    which nothing else reads. Maps the dotted path of every instance in a run to (the scopes
    down to the run's first instance, the run's length, the first instance's dotted path)."""
    members: dict[str, list[Node]] = {}
    scopes_of: dict[str, tuple[Scope, ...]] = {}
    children: dict[str, list[str]] = {}
    for node in graph.layers:
        for depth in range(1, len(node.scopes) + 1):
            path = ".".join(s.name for s in node.scopes[:depth])
            if path not in members:
                members[path] = []
                scopes_of[path] = node.scopes[:depth]
                children.setdefault(path.rpartition(".")[0], []).append(path)
            members[path].append(node)

    def inside(path: str, name: str) -> bool:
        return name.startswith(path + ".")  # names are scope paths (verify checks it)

    def follows(a: str, b: str) -> bool:
        if scopes_of[a][-1].identity != scopes_of[b][-1].identity:
            return False
        exits = {n.name for n in members[a]
                 if n.name in graph.outputs or any(not inside(a, u.name) for u in graph.users(n))}
        if len(exits) != 1:
            return False
        (exit_,) = exits
        entries = {i for n in members[b] for i in n.inputs if not inside(b, i)}
        return entries == exits and exit_ not in graph.outputs and all(inside(b, u.name) for u in graph.users(exit_))

    runs: dict[str, tuple[tuple[Scope, ...], int, str]] = {}
    for siblings in children.values():
        i = 0
        while i < len(siblings):
            j = i + 1
            while j < len(siblings) and follows(siblings[j - 1], siblings[j]):
                j += 1
            if j - i > 1:
                for k in range(i, j):
                    runs[siblings[k]] = (scopes_of[siblings[i]], j - i, siblings[i])
            i = j
    return runs


def _items(graph: Graph, options: DiagramOptions) -> tuple[list[_Item], dict[str, str]]:
    runs = _runs(graph) if options.collapse else {}
    asserted = {a.node for a in graph.assertions}
    items: list[_Item] = []
    owner: dict[str, str] = {}  # IR node -> item id
    by_run: dict[str, _Item] = {}
    for node in graph.nodes:
        if node.inputs == ():
            item = _Item(f"n{len(items)}", [node], f"{'input' if len(graph.inputs) == 1 else node.name}  {node.type}", Family.INPUT, ())
            items.append(item)
            owner[node.name] = item.id
            continue
        run = None
        for depth in range(1, len(node.scopes) + 1):
            key = ".".join(s.name for s in node.scopes[:depth])
            if key in runs:
                run = runs[key]
                break
        if run is not None:
            scopes, length, first = run
            item = by_run.get(first)
            if item is None:
                item = _Item(f"n{len(items)}", [], scopes[-1].label, None, scopes[:-1], badge=length)
                items.append(item)
                by_run[first] = item
            item.members.append(node)
            owner[node.name] = item.id
            continue
        if options.fold and items and len(node.inputs) == 1:
            prev = items[-1]
            last = prev.members[-1]
            if (
                prev.badge == 0
                and prev.family not in (None, Family.INPUT)
                and node.inputs[0] == last.name
                and last.name not in asserted  # an asserted value stays an edge, to be labelled
                and graph.readers(last) == 1
                and _folds([m.op.family for m in prev.members] + [node.op.family])
            ):
                prev.members.append(node)
                prev.label += f" · {node.op.label()}"
                if node.op.family in _WEIGHTED:
                    prev.family = node.op.family  # a pre-activation chain is coloured by its conv
                # a folded chain lives in the innermost cluster that holds all of it
                common = 0
                while common < min(len(prev.scopes), len(node.scopes)) and prev.scopes[common] == node.scopes[common]:
                    common += 1
                prev.scopes = prev.scopes[:common]
                owner[node.name] = prev.id
                continue
        item = _Item(f"n{len(items)}", [node], node.op.label(), node.op.family, node.scopes)
        items.append(item)
        owner[node.name] = item.id
    params, macs, fields = {}, {}, {}
    if {"params", "macs", "rf"} & set(options.show):
        for node, p, m, f in walk(graph):
            params[node.name], macs[node.name], fields[node.name] = p, m, f
        params, macs, fields = [numbers if shown in options.show else {} for numbers, shown in
                                ((params, "params"), (macs, "macs"), (fields, "rf"))]
    macs_of = lambda node: node.op.macs(graph.input_types(node), node.type)
    for item in items:
        if item.family == Family.INPUT or not options.show:
            continue
        if params:
            total = sum(params[m.name] for m in item.members)
            if total:
                item.extra.append(f"params {_short(total)}")
        if macs:
            total = sum(macs[m.name] for m in item.members)
            if total:
                item.extra.append(f"MACs {_short(total)}")
        if "flops" in options.show:  # 2 per multiply-accumulate, as `--count flops`
            total = 2 * sum(macs_of(m) for m in item.members)
            if total:
                item.extra.append(f"FLOPs {_short(total)}")
        if "mem" in options.show:  # what flows on to the next box, per sample, float32 (token ids int64)
            out = item.members[-1].type
            item.extra.append(f"out {bytes_text(out.numel * (8 if out.ids else 4))}")
        if fields:
            rf = fields[item.members[-1].name]
            if rf is not None:
                item.extra.append(f"RF {compact(rf.size)}, jump {compact(rf.jump)}")
    return items, owner


def to_dot(graph: Graph, options: DiagramOptions | None = None) -> graphviz.Digraph:
    """The diagram as a graphviz.Digraph (its `.source` is the DOT text)."""
    options = options or DiagramOptions()
    items, owner = _items(graph, options)
    if len(items) > MAX_DRAWN:
        raise ArchError(
            f"{graph.name} would be drawn with {len(items):,} boxes; Graphviz lays out at most "
            f"{MAX_DRAWN:,} in reasonable time",
            graph.span,
            hint="draw repeated blocks as one box each with --collapse (and --fold), or draw a smaller network",
        )
    title = f"{graph.name}   {graph.signature}"
    dot = graphviz.Digraph(name=_text(graph.name), strict=False)
    theme = THEMES[options.theme]
    dot.attr(rankdir=options.rankdir, fontname=FONT, labelloc="t", label=_text(title), fontsize=str(theme.title_size),
             nodesep="0.25", ranksep="0.3", newrank="true")
    k = theme.node_size / 11  # boxes grow with their text
    dot.attr("node", fontname=FONT, fontsize=str(theme.node_size), shape="box", style="rounded,filled",
             penwidth=f"{theme.penwidth:g}", height=f"{0.3 * k:.2f}", margin=f"{0.12 * k:.2f},{0.04 * k + 0.02 * (k - 1):.2f}")
    dot.attr("edge", fontname=FONT, fontsize=str(theme.edge_size), fontcolor=theme.edge_text,
             color=theme.edge_colour, arrowsize="0.6", penwidth=f"{theme.edge_width:g}")

    # clusters: a tree of scopes, emitted depth-first; items go into their innermost scope
    tree: dict[tuple[str, ...], list] = {(): []}
    scope_of: dict[tuple[str, ...], Scope] = {}
    for item in items:
        path: tuple[str, ...] = ()
        for scope in item.scopes:
            child = (*path, scope.name)
            if child not in tree:
                tree[child] = []
                tree[path].append(("scope", child))
                scope_of[child] = scope
            path = child
        tree[path].append(("item", item))

    def emit(target, path: tuple[str, ...]) -> None:
        for kind, entry in tree[path]:
            if kind == "item":
                _emit_item(target, entry, theme)
            elif len(tree[entry]) == 1 and tree[entry][0][0] == "item":
                _emit_item(target, tree[entry][0][1], theme)  # a cluster around one box only adds noise
            else:
                with target.subgraph(name=f"cluster_{len(scope_of)}_{'_'.join(entry).replace('.', '_')}") as sub:
                    scope = scope_of[entry]
                    sub.attr(label=_text(scope.label), style="rounded,dashed", color=theme.cluster_colour,
                             fontsize=str(theme.cluster_size), fontcolor=theme.cluster_text, labeljust="l")
                    inner = entry
                    while len(tree[inner]) == 1 and tree[inner][0][0] == "scope":
                        inner = tree[inner][0][1]  # a block whose body is one call (`se` = se_gate(...)): one frame
                    emit(sub, inner)

    emit(dot, ())

    # edges: one per pair of boxes, labelled with the tensor that flows
    rising = _rising(graph) if options.rankdir == "TB" else set()
    asserted = _asserted(graph)
    drawn: set[tuple[str, str]] = set()
    for node in graph.layers:
        for position, src in enumerate(node.inputs):
            a, b = owner[src], owner[node.name]
            if a == b or (a, b) in drawn:
                continue
            drawn.add((a, b))
            attrs = {"label": _text(f" {graph.node(src).type} ")}
            if src in asserted:
                attrs.update(asserted[src])
            if node.name in rising:
                if src in rising or len(node.inputs) == 1:
                    # the decoder of a U climbs back up beside the encoder: laid out reversed
                    dot.edge(b, a, dir="back", weight="4", **attrs)
                else:  # a skip across the U, at the level it leaves
                    dot.edge(a, b, minlen="0", weight="2", **attrs)
                continue
            if node.op.skip_inputs and position > 0:
                attrs.update(color=theme.skip_colour, fontcolor=theme.skip_colour, penwidth=f"{1.3 * theme.edge_width:g}")
                source_scopes = graph.node(src).scopes
                if source_scopes == node.scopes[: len(source_scopes)] and node.type.tokens:
                    # a transformer's residual stream, as its papers draw it: straight down,
                    # each block's norm -> attention (or MLP) beside it, rejoining at the add
                    attrs["weight"] = "12"
                elif source_scopes == node.scopes[: len(source_scopes)]:
                    # an identity skip (its source lies outside the merge's block, not in a
                    # shortcut branch): drawn beside the layers, not ranked between them
                    attrs["constraint"] = "false"
            else:
                attrs["weight"] = "4"
            dot.edge(a, b, **attrs)
    for node in graph.layers:  # a shared weight (fc(tie=wte)): a dashed line from its owner
        for _, other, _ in node.op.ties():
            if owner[other] != owner[node.name]:
                dot.edge(owner[other], owner[node.name], style="dashed", color="#777777", fontcolor="#555555",
                         arrowhead="none", constraint="false", label=" shared weight ")
    if not rising:
        _branches_side_by_side(dot, graph, owner)
    for i, (node, name) in enumerate(zip(graph.outputs, graph.output_names)):
        out_id = "output" if len(graph.outputs) == 1 else f"output{i}"  # identifiers are generated, never spec text
        dot.node(out_id, label=_text(f"{name}  {graph.node(node).type}"), shape="plaintext", style="")
        attrs = dict(asserted.get(node, {}))
        if node in rising:
            dot.edge(out_id, owner[node], dir="back", weight="4", **attrs)
        else:
            dot.edge(owner[node], out_id, weight="4", **attrs)

    entries: list[tuple[str, str]] = []  # (fill, words), in order of first appearance
    for item in items:
        if item.family not in (Family.INPUT, Family.MERGE):
            entry = (theme.fill(item.family), item.family.legend if item.family else BLOCK_LEGEND,
                     theme.border(item.family))
            if entry not in entries:
                entries.append(entry)
    if any(i.family == Family.MERGE for i in items):
        entries.append((theme.fill(Family.MERGE), Family.MERGE.legend, None))
    rows = "".join(
        f'<TR><TD BGCOLOR="{fill}" WIDTH="14" HEIGHT="10" BORDER="1"{f" STYLE={chr(34)}{border}{chr(34)}" if border else ""}>'
        f'</TD><TD ALIGN="LEFT"> {words}</TD></TR>'
        for fill, words, border in entries
    )
    if not rows:  # a network without layers: nothing to explain
        return dot
    if options.rankdir == "LR":
        # a wide, short drawing: the legend as one row under the title, where it takes the
        # width the drawing has anyway (a column of it beside the input stood out of a corner)
        cells = "".join(
            f'<TD BGCOLOR="{fill}" WIDTH="14" HEIGHT="10" BORDER="1"{f" STYLE={chr(34)}{border}{chr(34)}" if border else ""}>'
            f'</TD><TD ALIGN="LEFT"><FONT POINT-SIZE="{theme.legend_size}"> {words}   </FONT></TD>'
            for fill, words, border in entries)
        dot.attr(label=f'<<TABLE BORDER="0" CELLSPACING="4" CELLPADDING="0"><TR><TD>{html.escape(title)}</TD></TR>'
                       f'<TR><TD><TABLE BORDER="0" CELLSPACING="3" CELLPADDING="0"><TR>{cells}</TR></TABLE></TD></TR>'
                       f'</TABLE>>')
        return dot
    dot.node("legend", label=f'<<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="0">{rows}</TABLE>>',
             shape="plaintext", style="", fontsize=str(theme.legend_size))
    return dot


ASSERT_COLOUR = "#1e7d32"  # an assertion that holds: the shape is what the spec says


def _asserted(graph: Graph) -> dict[str, dict[str, str]]:
    """Edge attributes for the values the spec asserts a shape of: the shape and the assertion
    (`6x28x28 : 6@28x28`) on the edges that carry it, green where it holds, red and bold
    where it does not (a diagram of a failing spec shows where it breaks)."""
    out: dict[str, dict[str, str]] = {}
    for node in {a.node for a in graph.assertions}:
        mine = [a for a in graph.assertions if a.node == node]
        broken = [a for a in mine if not a.holds]
        shapes = " : ".join(dict.fromkeys(a.shape for a in (broken or mine)))
        marker = "  ✗ " if broken else " : "
        colour = SKIP_COLOUR if broken else ASSERT_COLOUR
        out[node] = {"label": _text(f" {graph.node(node).type}{marker}{shapes} "), "fontcolor": colour}
        if broken:
            out[node].update(color=colour, penwidth="2")
    return out


def _branches_side_by_side(dot: graphviz.Digraph, graph: Graph, owner: dict[str, str]) -> None:
    """Where a box feeds several layers (an Inception module's, ASPP's or a shortcut's
    branches), their first boxes share a rank, left to right in the order the spec wrote them
    (invisible edges within the rank fix the order; Graphviz would otherwise shuffle them)."""
    heads: dict[str, list[str]] = {}
    for node in graph.layers:
        if len(node.inputs) > 1:
            continue  # a merge closes branches; it does not start one
        a, b = owner[node.inputs[0]], owner[node.name]
        if a != b and b not in heads.setdefault(a, []):
            heads[a].append(b)
    for a, row in heads.items():
        if len(row) > 1:
            with dot.subgraph() as same:
                same.attr(rank="same")
                for left, right in zip(row, row[1:]):
                    same.edge(left, right, style="invis")


def _rising(graph: Graph) -> set[str]:
    """The decoder of an encoder-decoder with skips across (U-Net), to be drawn climbing back
    up beside its encoder: every layer whose receptive-field jump is below the largest jump
    before it (it upsamples, or follows an upsampling), provided some merge joins such a layer
    with a skip from the encoder; empty otherwise (an upsampling head alone, as FCN's, stays in
    line). Layers after a global field (global pooling, fc) have no jump and never rise."""
    fields = receptive_fields(graph)
    deepest: dict[str, Rational] = {}
    rising: set[str] = set()
    for node in graph.nodes:
        field = fields[node.name]
        if field is None:
            continue
        jump = max(field.jump)
        before = max((deepest.get(i, 0) for i in node.inputs), default=0)
        deepest[node.name] = max(jump, before)
        if jump < before:
            rising.add(node.name)
    skips = any(len(n.inputs) > 1 and any(i in rising for i in n.inputs) and any(i not in rising for i in n.inputs)
                for n in graph.layers if n.name in rising)
    return rising if skips else set()


def _emit_item(target, item: _Item, theme: Theme) -> None:
    lines = [item.label] + item.extra
    attrs = {"fillcolor": theme.fill(item.family)}
    border = theme.border(item.family)
    if border:
        attrs["style"] = f"rounded,filled,{border}"
    glyph = item.members[0].op.glyph if item.family else None
    if glyph is not None:
        size = f"{0.3 * theme.glyph_size / 12:g}"
        attrs.update(shape="circle", label=_text(glyph), width=size, fixedsize="true",
                     fontsize=str(theme.glyph_size), tooltip=_text(item.members[0].op.name))
        if item.extra:
            attrs["xlabel"] = "\\n".join(_text(line) for line in item.extra)
        target.node(item.id, **attrs)
        return
    if item.badge:
        lines[0] = f"{item.label}   ×{item.badge}"
        attrs.update(shape="box3d", style="filled")
    if item.family == Family.INPUT:
        attrs.update(shape="plaintext", style="")
    target.node(item.id, label="\\n".join(_text(line) for line in lines), **attrs)


def dot_available() -> bool:
    return shutil.which("dot") is not None


INSTALL_HINT = "Graphviz's dot is not installed; install it with: sudo apt-get install graphviz (macOS: brew install graphviz)"


def render_bytes(graph: Graph, fmt: str, options: DiagramOptions | None = None) -> bytes:
    """The diagram as `fmt`; a PNG at `options.dpi` dots per inch (150 unless said: 300 is
    print quality), set on the graph only for PNG, so DOT, SVG and PDF stay as they are."""
    options = options or DiagramOptions()
    if fmt == "tex":
        from .tikz import to_tikz

        return to_tikz(graph, options, body_only=options.tikz_body).encode("utf-8")
    from .layout import SHORT, fit, layout_of, pinned_dot, png_dpi  # laying out: layout.py

    if fmt == "dot":
        return source_bytes(to_dot(graph, options), fmt, graph.name)
    if len(graph.layers) <= SHORT and options.rankdir == "TB":  # too short to need wrapping: one dot run draws it
        dot = to_dot(graph, options)
        if fmt == "png" or options.width or options.height:
            _, _, w, h = source_bytes(dot, "plain", graph.name).split(b"\n", 1)[0].split()
            if options.width or options.height:
                dot.attr(size=fit(float(w), float(h), graph, options))
            if fmt == "png":
                dot.attr(dpi=str(png_dpi(graph, (float(w), float(h)), options)))
        data = source_bytes(dot, fmt, graph.name)
        return embed_fonts(data) if fmt == "svg" else data
    layout = layout_of(graph, options)  # laid out once (and wrapped where too tall), then drawn as it lies
    x1, y1, x2, y2 = (float(v) for v in layout["bb"].split(","))
    extra = {}
    if options.width or options.height:
        extra["size"] = fit((x2 - x1) / 72, (y2 - y1) / 72, graph, options)
    if fmt == "png":
        extra["dpi"] = str(png_dpi(graph, ((x2 - x1) / 72, (y2 - y1) / 72), options))
    source = graphviz.Source(pinned_dot(layout, extra), engine="neato")
    try:
        data = source.pipe(format=fmt, neato_no_op=2)
    except graphviz.ExecutableNotFound:
        raise DotMissing(INSTALL_HINT) from None
    except graphviz.CalledProcessError as err:
        raise ArchError(f"Graphviz failed to draw {graph.name}: {err}") from err
    return embed_fonts(data) if fmt == "svg" else data  # PDF and PNG have their font already


def source_bytes(source: "graphviz.Digraph", fmt: str, what: str) -> bytes:
    """A DOT source as `fmt` (dot: the source itself; svg, png, pdf: drawn by Graphviz's dot)."""
    if fmt == "dot":
        return source.source.encode("utf-8")
    if not dot_available():
        raise DotMissing(INSTALL_HINT)
    try:
        return source.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise DotMissing(INSTALL_HINT) from None
    except graphviz.CalledProcessError as err:
        raise ArchError(f"Graphviz failed to draw {what}: {err}") from err


def render(graph: Graph, path: str | Path, options: DiagramOptions | None = None, *, inputs=()) -> Path:
    """Write the diagram; the format comes from the suffix (.svg, .png, .pdf, .dot)."""
    from ..output import write_atomic

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ArchError(f"cannot draw to '{path.suffix or path.name}'", hint="formats: " + ", ".join(f".{f}" for f in FORMATS))
    return write_atomic(path, render_bytes(graph, fmt, options), inputs=inputs)


def svg(graph: Graph, options: DiagramOptions | None = None) -> str:
    return render_bytes(graph, "svg", options).decode("utf-8")
