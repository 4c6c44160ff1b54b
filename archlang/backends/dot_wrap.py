"""Long networks that fit a page: a tall drawing wrapped into columns, as text wraps into lines.

Drawn top to bottom, a network grows one rank per layer: resnet152 uncollapsed is a strip 75
times as tall as it is wide. Above `ASPECT` (height over width) the laid-out drawing is cut into
columns placed side by side:
- Graphviz lays the whole network out once, as always (`dot`); the cuts are horizontal lines
  just below a box on the spine (one that every path from the input to the output passes
  through) that ends a block, so only the edges out of that box cross from one column to the
  next and no block of the cut level is torn (a frame around several blocks, vgg's, continues
  in the next column as a frame of its own, its label in the first);
- the number of columns is the one that brings the drawing nearest to `TARGET`, the cuts
  split its height evenly, and each column is moved up to the top and to the right of the one
  before; the legend goes to the right of the last;
- the result is drawn with Graphviz's `neato -n2`, which keeps every position and every edge's
  curve as given; an edge that continues the chain across a cut runs down into the gap after
  its column, up the gap and into the top of the next.
A drawing that is not too tall, or whose spine has no place to cut, is left as it is.
This module is the layout half of drawing (dot.py builds the DOT and draws): `layout_of` (the
layout every drawn format and TikZ start from), the wrap, and `fit` (--width/--height).
"""

from __future__ import annotations

import json
import math

from ..errors import ArchError
from ..ir import Graph
from .dot import DiagramOptions, _items, _rising, source_bytes, to_dot
from .themes import THEMES

__all__ = ["layout_of", "fit", "DoesNotFit", "wrap", "pinned_dot", "ASPECT", "TARGET", "SHORT"]

ASPECT = 4.0  # wrap a drawing taller than this many times its width
TARGET = 1.4  # the height over width the columns aim for
GAP = 36.0  # points between columns


def _y(obj: dict) -> float:
    return float(obj["pos"].split(",")[1])


def _x(obj: dict) -> float:
    return float(obj["pos"].split(",")[0])


def _half(obj: dict, key: str) -> float:
    return float(obj[key]) * 36.0  # inches to points, halved


def wrap(layout: dict, cuts: list[str]) -> dict | None:
    """`layout` (Graphviz's json0 of a top-to-bottom drawing) in columns, or None where it is
    not too tall or cannot be cut. `cuts`: the boxes (node names) a column may end with."""
    x0, y0, width, height = (float(v) for v in layout["bb"].split(","))
    nodes = [o for o in layout["objects"] if "pos" in o]
    legend = next((o for o in nodes if o["name"] == "legend"), None)
    content = [o for o in nodes if o is not legend]
    if not content:
        return None
    left = min(_x(o) - _half(o, "width") for o in content)
    right = max(_x(o) + _half(o, "width") for o in content)
    for obj in layout["objects"]:
        if "bb" in obj:
            bx1, _, bx2, _ = (float(v) for v in obj["bb"].split(","))
            left, right = min(left, bx1), max(right, bx2)
    column_width = right - left
    if height <= ASPECT * width:
        return None
    columns = max(2, round(math.sqrt(height / (TARGET * (column_width + GAP)))))
    by_name = {o["name"]: o for o in nodes}
    candidates = sorted((by_name[c] for c in cuts if c in by_name), key=_y, reverse=True)
    if not candidates:
        return None
    top = max(_y(o) + _half(o, "height") for o in content)
    bottom = min(_y(o) - _half(o, "height") for o in content)
    lines: list[float] = []  # the cut lines, from the top down
    for j in range(1, columns):
        target = top - (top - bottom) * j / columns
        best = min(candidates, key=lambda o: abs(_y(o) - _half(o, "height") - target))
        line = _y(best) - _half(best, "height") - 1
        if line not in lines and bottom < line < top:
            lines.append(line)
    lines.sort(reverse=True)
    if not lines:
        return None

    def piece(y: float) -> int:
        return sum(1 for line in lines if y < line)

    tops = [top] + lines
    shift = [((column_width + GAP) * p, top - (tops[p] if p == 0 else tops[p] - 4)) for p in range(len(tops))]

    def move(x: float, y: float, p: int) -> tuple[float, float]:
        return x + shift[p][0], y + shift[p][1]

    out_objects = []
    for obj in layout["objects"]:
        obj = dict(obj)
        if "pos" in obj and obj is not legend and obj["name"] != "legend":
            x, y = move(_x(obj), _y(obj), piece(_y(obj)))
            obj["pos"] = f"{x:.2f},{y:.2f}"
            out_objects.append(obj)
        elif "bb" in obj:  # a frame: one per column it has boxes in, the label in the first
            bx1, by1, bx2, by2 = (float(v) for v in obj["bb"].split(","))
            members = [layout["objects"][i] for i in obj.get("nodes", [])]
            spans = sorted({piece(_y(m)) for m in members if "pos" in m}) or [piece(by2)]
            for k, p in enumerate(spans):
                lo = max(by1, lines[p] + 2 if p < len(lines) else by1)
                hi = min(by2, tops[p] - 2 if p > 0 else by2)
                part = {key: v for key, v in obj.items() if key not in ("nodes", "edges", "subgraphs")}
                (ax, ay), (bx, byy) = move(bx1, lo, p), move(bx2, hi, p)
                part["bb"] = f"{ax:.2f},{ay:.2f},{bx:.2f},{byy:.2f}"
                part["name"] = f"{obj['name']}_{p}"
                if k == 0 and "lp" in obj:
                    lx, ly = (float(v) for v in obj["lp"].split(","))
                    px, py = move(lx, min(ly, hi - 6), p)
                    part["lp"] = f"{px:.2f},{py:.2f}"
                else:  # an explicit empty label: a cluster without one would show the graph's (the title)
                    part["label"] = ""
                    part.pop("lp", None)
                out_objects.append(part)
        else:
            out_objects.append(obj)
    new_right = left + (column_width + GAP) * len(tops) - GAP
    if legend is not None:
        legend = dict(legend)
        lx = new_right + GAP / 2 + _half(legend, "width")
        legend["pos"] = f"{lx:.2f},{top - _half(legend, 'height'):.2f}"
        out_objects.append(legend)
        new_right = lx + _half(legend, "width")
    moved_edges = []
    labelled: set[int] = set()
    first: dict[int, float] = {}  # each column's highest box top, in the laid-out coordinates
    for obj in content:
        p, box_top = piece(_y(obj)), _y(obj) + _half(obj, "height")
        first[p] = max(first.get(p, box_top), box_top)
    index = {o["_gvid"]: o for o in layout["objects"] if "_gvid" in o}
    for edge in layout.get("edges", []):
        edge = dict(edge)
        tail, head = index.get(edge["tail"]), index.get(edge["head"])
        pt, ph = (piece(_y(tail)) if tail and "pos" in tail else 0), (piece(_y(head)) if head and "pos" in head else 0)
        if edge.get("style") == "invis":
            edge.pop("pos", None)
        elif pt != ph:  # across a cut: down into the gap after the tail's column, up it, into the head
            tx, ty = move(_x(tail), _y(tail) - _half(tail, "height"), pt)
            hx, hy = move(_x(head), _y(head) + _half(head, "height"), ph)
            gap = left + (column_width + GAP) * (pt + 1) - GAP / 2
            if _y(head) + _half(head, "height") >= first[ph] - 1:  # the next column's first box: into its top
                corners = [(tx, ty), (gap, ty - 12), (gap, hy + 18), (hx, hy + 6)]
            else:  # a shortcut into a merge further down: along the gap, into the merge's left side
                side = hx - _half(head, "width")
                mid = hy - _half(head, "height")
                hx, hy = side, mid
                corners = [(tx, ty), (gap, ty - 12), (gap, mid), (side - 6, mid)]
            points = [corners[0]]
            for (ax, ay), (bx, byy) in zip(corners, corners[1:]):
                points += [(ax + (bx - ax) / 3, ay + (byy - ay) / 3), (ax + 2 * (bx - ax) / 3, ay + 2 * (byy - ay) / 3),
                           (bx, byy)]
            edge["pos"] = f"e,{hx:.2f},{hy:.2f} " + " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
            if "lp" in edge and edge["tail"] not in labelled:  # one label for the tensor a cut's box sends on
                edge["lp"] = f"{gap + 4:.2f},{(ty + hy) / 2:.2f}"
                labelled.add(edge["tail"])
            else:
                edge.pop("lp", None)
                edge["label"] = ""
        else:
            points = []
            for part in edge.get("pos", "").split():
                prefix = part[:2] if part[:2] in ("e,", "s,") else ""
                x, y = (float(v) for v in part[len(prefix):].split(","))
                mx, my = move(x, y, pt)
                points.append(f"{prefix}{mx:.2f},{my:.2f}")
            if points:
                edge["pos"] = " ".join(points)
            if "lp" in edge:
                x, y = (float(v) for v in edge["lp"].split(","))
                mx, my = move(x, y, pt)
                edge["lp"] = f"{mx:.2f},{my:.2f}"
        moved_edges.append(edge)
    new_bottom = min(_y(o) - _half(o, "height") for o in out_objects if "pos" in o and o.get("name") != "legend")
    result = dict(layout)
    result["objects"], result["edges"] = out_objects, moved_edges
    title_h = height - top
    result["bb"] = f"{min(left, 0):.2f},{min(new_bottom - 8, 0):.2f},{new_right + 8:.2f},{top + title_h:.2f}"
    if "lp" in layout:
        result["lp"] = f"{(min(left, 0) + new_right) / 2:.2f},{top + title_h / 2:.2f}"
    return result


_SKIP = {"_gvid", "nodes", "edges", "subgraphs", "tail", "head", "name", "_draw_", "_ldraw_", "_hdraw_", "_tdraw_",
         "_hldraw_", "_tldraw_", "lheight", "lwidth"}


def _attrs(obj: dict, html: bool = False) -> str:
    parts = []
    for key, value in obj.items():
        if key in _SKIP:
            continue
        if key == "label" and html:
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


# -- the layout every drawn format starts from, and fitting it to a page

SHORT = 16  # layers: a drawing this short is never 4 times as tall as wide (lenet5's 12 are 3:1)
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
    """Graphviz's layout of the diagram (json0), wrapped into columns where it is too tall
    (backends/dot_wrap.py): what every drawn format and TikZ start from."""
    dot = to_dot(graph, options)
    layout = json.loads(source_bytes(dot, "json0", graph.name))
    if options.rankdir == "TB" and len(graph.inputs) == 1 and not _rising(graph):
        wrapped = wrap(layout, _cut_candidates(graph, options))
        if wrapped is not None:
            return wrapped
    return layout


def _cut_candidates(graph: Graph, options: DiagramOptions) -> list[str]:
    """Boxes a column may end with: on the spine (every path from the input to the output
    passes through them) and the last of their block."""
    items, owner = _items(graph, options)
    index = {item.id: i for i, item in enumerate(items)}
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
    return out
