"""The layout every drawn format starts from, and its size on the page.

dot.py builds the DOT; here Graphviz lays it out (json0) and `layout_of` wraps a long drawing
into columns or rows (dot_wrap.py), which PNG, SVG and PDF draw pinned (`pinned_dot`, by
`neato -n2`) and TikZ writes out (tikz.py); `fit` scales it to --width/--height, refusing text
below MIN_TEXT_PT, and `png_dpi` keeps a PNG within what Graphviz can draw, saying so.
"""

from __future__ import annotations

import json
import warnings

from ..errors import ArchError
from ..ir import Graph
from .dot import DPI, DiagramOptions, _items, _rising, source_bytes, to_dot
from .dot_wrap import TARGET, TARGET_ROWS, _retitle, flip, straighten, wrap
from .themes import THEMES

__all__ = ["layout_of", "fit", "DoesNotFit", "pinned_dot", "png_dpi", "DrawingNote", "PNG_MAX_PX", "SHORT",
           "MIN_TEXT_PT"]


SHORT = 16  # layers: top to bottom, a drawing this short is never 4 times as tall as wide (lenet5's 12
# are 3:1); left to right, lenet5 is 21 times as wide as tall: every length is laid out and looked at
MIN_TEXT_PT = 6.0  # the smallest box text a fitted drawing may have (a footnote's size)


class DoesNotFit(ArchError):
    """--width/--height would shrink the text below MIN_TEXT_PT: said, not drawn unreadable."""

    kind = "usage"


def fit(natural_w: float, natural_h: float, graph: Graph, options: DiagramOptions) -> str:
    """Graphviz's size="W,H!" that scales a drawing of the natural size (inches) to
    `options.width` x `options.height` (either may be open), up or down, keeping its
    proportions; DoesNotFit where the boxes' text would fall below MIN_TEXT_PT."""
    scales = [w / n for w, n in ((options.width, natural_w), (options.height, natural_h)) if w]
    scale = min(scales)
    text = THEMES[options.theme].node_size * scale
    if text < MIN_TEXT_PT:
        asked = " x ".join(f"{v:g} in" for v in (options.width, options.height) if v)
        raise DoesNotFit(
            f"{graph.name} drawn at {natural_w:.1f} x {natural_h:.1f} in would shrink to {scale:.0%} to fit {asked}: "
            f"its text would be {text:.1f} pt, below the {MIN_TEXT_PT:g} pt a reader can read",
            hint="draw it with --collapse and --fold, --rankdir LR for a wide page, or give a larger --width/--height")
    # the box itself (an open side as good as endless): "!" scales up as well as down, until the
    # drawing, its margin included, meets the box's binding side
    return f"{options.width or 10_000:.3f},{options.height or 10_000:.3f}!"


def layout_of(graph: Graph, options: DiagramOptions) -> dict:
    """Graphviz's layout of the diagram (json0), wrapped into columns (top to bottom) or rows
    (left to right) where it is too long: what every drawn format and TikZ start from."""
    dot = to_dot(graph, options)
    layout = json.loads(source_bytes(dot, "json0", graph.name))
    if len(graph.inputs) != 1 or (options.rankdir == "TB" and _rising(graph)):
        return layout
    main, cuts = _spine(graph, options)
    across = options.rankdir == "LR"
    _size_labels(layout)
    upright = flip(layout) if across else layout  # rows are columns turned on their side
    wrapped = wrap(straighten(upright, main), cuts, TARGET_ROWS if across else TARGET)
    if wrapped is None:
        return layout
    return _retitle(flip(wrapped), layout) if across else wrapped


def _size_labels(layout: dict) -> None:
    """Each edge label's size (inches, as Graphviz gives a frame's), for placing it anew."""
    for edge in layout.get("edges", []):
        text = edge.get("label", "").strip()
        if text and "lwidth" not in edge:
            size = float(edge.get("fontsize", 9))
            edge["lwidth"] = f"{len(text) * size * 0.62 / 72:.3f}"
            edge["lheight"] = f"{size * 1.3 / 72:.3f}"


def _spine(graph: Graph, options: DiagramOptions) -> tuple[list[str], list[str]]:
    """The main line (from the output back to the input, always by a box's first input: a
    residual block's main branch, not its shortcut), and the boxes a column may end with: those
    on the spine (every path from the input to the output passes through them) that end their
    block."""
    items, owner = _items(graph, options)
    index = {item.id: i for i, item in enumerate(items)}
    by_id = {item.id: item for item in items}
    main, at = [], by_id.get(owner.get(graph.outputs[0], ""))
    while at is not None and at.id not in main:
        main.append(at.id)
        first = at.members[0].inputs if at.members else ()
        at = by_id.get(owner.get(first[0], "")) if first else None
    reach, out = -1, []
    successors: dict[str, set[str]] = {}
    for n in graph.layers:
        for src in n.inputs:
            if owner[src] != owner[n.name]:
                successors.setdefault(owner[src], set()).add(owner[n.name])
    for i, item in enumerate(items):
        if reach <= i and 0 < i < len(items) - 1:
            nxt = items[i + 1]
            if tuple(nxt.scopes[: len(item.scopes)]) != tuple(item.scopes) or not item.scopes:
                out.append(item.id)
        for s in successors.get(item.id, ()):
            reach = max(reach, index[s])
    return main, out


class DrawingNote(UserWarning):
    """Something the drawing did other than asked, and why (the command line prints it as a note)."""


PNG_MAX_PX = 32_767  # the widest and tallest bitmap Graphviz's cairo renderer draws


def png_dpi(graph: Graph, natural: tuple[float, float], options: DiagramOptions) -> int:
    """The PNG's dots per inch: `options.dpi` (150 unless said), lowered where the drawing
    (`natural` inches, fitted to --width/--height where given) would pass PNG_MAX_PX, with a
    DrawingNote saying so instead of Graphviz's own warning."""
    dpi = options.dpi or DPI[0]
    scales = [w / n for w, n in ((options.width, natural[0]), (options.height, natural[1])) if w and n]
    inches = max(natural) * (min(scales) if scales else 1.0) + 8 / 72  # and Graphviz's pad, 4 points a side
    if inches * dpi <= PNG_MAX_PX:
        return dpi
    fitted = int(PNG_MAX_PX / inches)
    warnings.warn(DrawingNote(
        f"{graph.name} at {dpi} dpi would be {inches * dpi:,.0f} pixels long, more than the {PNG_MAX_PX:,} a PNG "
        f"drawn by Graphviz can be: drawn at {fitted} dpi; .pdf and .svg keep every detail at any size"),
        stacklevel=3)
    return fitted


_SKIP = {"_gvid", "nodes", "edges", "subgraphs", "tail", "head", "name", "_draw_", "_ldraw_", "_hdraw_", "_tdraw_",
         "_hldraw_", "_tldraw_", "lheight", "lwidth"}


def _attrs(obj: dict, html: bool = False) -> str:
    parts = []
    for key, value in obj.items():
        if key in _SKIP:
            continue
        if key == "label" and (html or str(value).startswith("<TABLE")):  # an HTML label (the legend, the LR title)
            parts.append(f"label=<{value}>")
        else:
            parts.append(f'{key}="' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ", ".join(parts)


def pinned_dot(layout: dict, extra: dict | None = None) -> str:
    """A layout as DOT for `neato -n2`: every position and curve fixed; `extra` graph
    attributes (dpi, size) on top."""
    graph_attrs = {k: v for k, v in layout.items() if k not in ("objects", "edges", "name", "directed", "strict",
                                                                  "_subgraph_cnt")}
    graph_attrs.update(extra or {})
    lines = [f"digraph {{\n  graph [{_attrs(graph_attrs)}, splines=line];"]  # given curves kept; the rest straight, unrouted
    names = {}
    for obj in layout["objects"]:
        if "pos" in obj:
            names[obj["_gvid"]] = obj["name"]
            lines.append(f'  "{obj["name"]}" [{_attrs({**obj, "fixedsize": "true"}, html=obj["name"] == "legend")}];')
        elif "bb" in obj:
            lines.append(f'  subgraph "{obj["name"]}" {{ graph [{_attrs(obj)}]; }}')
    for edge in layout["edges"]:
        tail, head = names.get(edge["tail"]), names.get(edge["head"])
        if tail and head:
            lines.append(f'  "{tail}" -> "{head}" [{_attrs(edge)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
