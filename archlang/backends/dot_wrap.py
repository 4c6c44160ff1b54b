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
Before the cut, `straighten` puts the main line straight down (Graphviz drifts a long chain
sideways); left to right, `flip` turns the drawing to run top to bottom and back, so rows are
columns on their side. layout.py calls these on Graphviz's layout.
"""

from __future__ import annotations

import bisect
import math

__all__ = ["wrap", "straighten", "flip", "ASPECT", "TARGET", "TARGET_ROWS", "GAP"]

ASPECT = 4.0  # wrap a drawing taller than this many times its width
TARGET = 1.4  # the height over width the columns aim for (a portrait page's: A4 is 1.41)
TARGET_ROWS = 1.8  # the width over height rows aim for, left to right (a slide's: 16:9)
GAP = 36.0  # points between columns


def _y(obj: dict) -> float:
    return float(obj["pos"].split(",")[1])


def _x(obj: dict) -> float:
    return float(obj["pos"].split(",")[0])


def _half(obj: dict, key: str) -> float:
    return float(obj[key]) * 36.0  # inches to points, halved


def wrap(layout: dict, cuts: list[str], target: float = TARGET) -> dict | None:
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
    columns = max(2, round(math.sqrt(height / (target * (column_width + GAP)))))
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
    parts = {i: _frame_parts(obj, layout["objects"], piece) for i, obj in enumerate(layout["objects"]) if "bb" in obj}
    highest = [-math.inf] * len(tops)  # what each column holds highest: a box, or a frame's top
    for obj in content:
        highest[piece(_y(obj))] = max(highest[piece(_y(obj))], _y(obj) + _half(obj, "height"))
    for frame in parts.values():
        for p, _, hi in frame:
            highest[p] = max(highest[p], hi)
    # each column moved right of the one before, its top level with the first's
    shift = [((column_width + GAP) * p, 0.0 if p == 0 else highest[0] - highest[p]) for p in range(len(tops))]

    def move(x: float, y: float, p: int) -> tuple[float, float]:
        return x + shift[p][0], y + shift[p][1]

    out_objects = []
    for i, obj in enumerate(layout["objects"]):
        obj = dict(obj)
        if obj.get("name") == "legend":
            continue  # placed below, once the columns' ends are known
        if "pos" in obj:
            x, y = move(_x(obj), _y(obj), piece(_y(obj)))
            obj["pos"] = f"{x:.2f},{y:.2f}"
            out_objects.append(obj)
        elif "bb" in obj:  # a frame: one per column it has boxes in, the label in the first
            bx1, by1, bx2, by2 = (float(v) for v in obj["bb"].split(","))
            for k, (p, lo, hi) in enumerate(parts[i]):
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
    floor = [min([move(0, lo, p)[1] for frame in parts.values() for q, lo, _ in frame if q == p], default=math.inf)
             for p in range(len(tops))]  # each column's lowest frame bottom
    moved_edges = []
    labelled: set[int] = set()
    label_bottom = math.inf
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
            if "lp" in edge and edge["tail"] not in labelled:  # one label for the tensor a cut's box sends on,
                lw, lh = float(edge.get("lwidth", 0)) * 36, float(edge.get("lheight", 0)) * 36  # under the box
                ly = min(ty - 14, floor[pt] - 3) - lh  # and under the frames that end with it
                edge["lp"] = f"{tx + 4 + lw:.2f},{ly:.2f}"
                label_bottom = min(label_bottom, ly - lh)
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
    new_bottom = min(label_bottom, *(_y(o) - _half(o, "height") for o in out_objects if "pos" in o))
    if legend is not None:
        legend, new_right = _place_legend(dict(legend), out_objects, moved_edges, new_bottom, top, new_right,
                                          [left + (column_width + GAP) * p for p in range(len(tops))], column_width)
        out_objects.append(legend)
    result = dict(layout)
    result["objects"], result["edges"] = out_objects, moved_edges
    title_h = height - top
    result["bb"] = f"{min(left - 8, 0):.2f},{new_bottom - 8:.2f},{new_right + 8:.2f},{top + title_h:.2f}"
    if "lp" in layout:
        result["lp"] = f"{(min(left, 0) + new_right) / 2:.2f},{top + title_h / 2:.2f}"
    return result


def _frame_parts(obj: dict, objects: list[dict], piece) -> list[tuple[int, float, float]]:
    """A frame cut by the columns: (column, bottom, top) of each part, in the laid-out
    coordinates, from the first. A part keeps the frame's margins around the boxes it holds
    (the room for the label only in the first, which shows it)."""
    _, by1, _, by2 = (float(v) for v in obj["bb"].split(","))
    members = [m for m in (objects[i] for i in obj.get("nodes", [])) if "pos" in m]
    if not members:
        return [(piece(by2), by1, by2)]
    ends = [(_y(m) - _half(m, "height"), _y(m) + _half(m, "height"), piece(_y(m))) for m in members]
    spans = sorted({p for _, _, p in ends})
    below = min(b for b, _, _ in ends) - by1
    above = by2 - max(t for _, t, _ in ends) - float(obj.get("lheight", 0)) * 72
    out = []
    for k, p in enumerate(spans):
        lo = by1 if k == len(spans) - 1 else min(b for b, _, q in ends if q == p) - below
        hi = by2 if k == 0 else max(t for _, t, q in ends if q == p) + max(above, 6)
        out.append((p, lo, hi))
    return out


def _place_legend(legend: dict, objects: list[dict], edges: list[dict], bottom: float, top: float, right: float,
                  starts: list[float], width: float) -> tuple[dict, float]:
    """The legend where it leaves no empty strip: under the last column that has room for it
    below its end (the head's, usually), else right of the last column, at the top. Returns it
    placed, and the drawing's new right side."""
    lw, lh = _half(legend, "width"), _half(legend, "height")
    ends = {p: math.inf for p in range(len(starts))}  # each column's lowest point
    marks = [(_x(o), _y(o) - _half(o, "height")) for o in objects if "pos" in o]
    marks += [(float(v[0]), float(v[1])) for v in (o["bb"].split(",") for o in objects if "bb" in o)]
    marks += [(float(e["lp"].split(",")[0]) - float(e.get("lwidth", 0)) * 36,
               float(e["lp"].split(",")[1]) - float(e.get("lheight", 0)) * 36) for e in edges if "lp" in e]
    for x, y in marks:
        p = max((k for k, s in enumerate(starts) if s - GAP / 2 <= x), default=0)
        ends[p] = min(ends[p], y)
    for p in reversed(range(len(starts))):
        room = ends[p] - 16 - bottom
        if room >= 2 * lh and (2 * lw <= width or p == len(starts) - 1):
            legend["pos"] = f"{starts[p] + lw:.2f},{ends[p] - 16 - lh:.2f}"
            return legend, max(right, starts[p] + 2 * lw)
    lx = right + GAP / 2 + lw
    legend["pos"] = f"{lx:.2f},{top - lh:.2f}"
    return legend, lx + lw


def _points(pos: str):
    """An edge's `pos` as (prefix, x, y): prefix "e," or "s," for an arrow's tip, else ""."""
    for part in pos.split():
        prefix = part[:2] if part[:2] in ("e,", "s,") else ""
        x, y = part[len(prefix):].split(",")
        yield prefix, float(x), float(y)


def flip(layout: dict) -> dict:
    """A left-to-right layout turned to run top to bottom, and back: (x, y) -> (top - y,
    right - x), its own inverse; boxes and labels keep their size, turned with it."""
    x1, y1, x2, y2 = (float(v) for v in layout["bb"].split(","))

    def pt(x: float, y: float) -> str:
        return f"{y2 - y:.2f},{x2 - x:.2f}"

    def turned(obj: dict) -> dict:
        obj = dict(obj)
        for a, b in (("width", "height"), ("lwidth", "lheight")):
            if a in obj and b in obj:
                obj[a], obj[b] = obj[b], obj[a]
        if "pos" in obj and "tail" not in obj:
            obj["pos"] = pt(*(float(v) for v in obj["pos"].split(",")))
        elif "pos" in obj:
            obj["pos"] = " ".join(prefix + pt(x, y) for prefix, x, y in _points(obj["pos"]))
        if "lp" in obj:
            obj["lp"] = pt(*(float(v) for v in obj["lp"].split(",")))
        if "bb" in obj and "tail" not in obj:
            a, b, c, d = (float(v) for v in obj["bb"].split(","))
            obj["bb"] = f"{y2 - d:.2f},{x2 - c:.2f},{y2 - b:.2f},{x2 - a:.2f}"
        return obj

    result = turned(layout)
    result["objects"] = [turned(o) for o in layout["objects"]]
    result["edges"] = [turned(e) for e in layout.get("edges", [])]
    return result


def _retitle(layout: dict, original: dict) -> dict:
    """A wrapped left-to-right layout with the title (and the legend in it) back on top, as far
    above the drawing as in `original`."""
    _, _, _, top0 = (float(v) for v in original["bb"].split(","))
    content0 = max(_y(o) + _half(o, "height") for o in original["objects"] if "pos" in o)
    boxes = [o for o in layout["objects"] if "pos" in o]
    frames = [[float(v) for v in o["bb"].split(",")] for o in layout["objects"] if "bb" in o]
    left = min([_x(o) - _half(o, "width") for o in boxes] + [f[0] for f in frames])
    right = max([_x(o) + _half(o, "width") for o in boxes] + [f[2] for f in frames])
    bottom = min([_y(o) - _half(o, "height") for o in boxes] + [f[1] for f in frames])
    top = max([_y(o) + _half(o, "height") for o in boxes] + [f[3] for f in frames])
    for edge in layout.get("edges", []):
        if "lp" in edge:
            x, y = (float(v) for v in edge["lp"].split(","))
            w, h = _half(edge, "lwidth") if "lwidth" in edge else 0, _half(edge, "lheight") if "lheight" in edge else 0
            left, right, bottom = min(left, x - w), max(right, x + w), min(bottom, y - h)
    title_w = float(original.get("lwidth", 0)) * 72
    right = max(right, left + title_w)
    result = dict(layout)
    result["bb"] = f"{left - 8:.2f},{bottom - 8:.2f},{right + 8:.2f},{top + top0 - content0:.2f}"
    if "lp" in original:
        label_y = float(original["lp"].split(",")[1])
        result["lp"] = f"{(left + right) / 2:.2f},{top + label_y - content0:.2f}"
    return result


def _straight(points: list[tuple[str, float, float]]) -> bool:
    """Whether an edge's points lie on one line (within half a point): drawn straight."""
    (_, x0, y0), (_, x1, y1) = points[0], points[-1]
    length = math.hypot(x1 - x0, y1 - y0)
    return length > 0 and all(abs((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / length < 0.5 for _, x, y in points)


def straighten(layout: dict, line: list[str]) -> dict:
    """A top-to-bottom layout with its main line (`line`: boxes) drawn straight down. Graphviz
    places a long network's boxes with a drift (each residual block a little to the side of
    the one before), which a column shows as a slanted chain; every point moves sideways by
    the amount that puts the line's boxes under one another, interpolated between them, so a
    branch beside it keeps its place, and each frame is fitted anew around what it holds, with
    its margin (and its label left of the edge coming in)."""
    objects = layout["objects"]
    marks = sorted((_y(o) - _half(o, "height"), _y(o) + _half(o, "height"), _x(o))
                   for o in objects if "pos" in o and o["name"] in set(line))
    if len(marks) < 2:
        return layout
    ys: list[float] = []
    ds: list[float] = []  # the shift at each of ys: constant across a spine box, linear between
    for lo, hi, x in marks:
        if ys and lo <= ys[-1]:
            continue
        ys += [lo, hi]
        ds += [-x, -x]

    def shift(y: float) -> float:
        i = bisect.bisect_left(ys, y)
        if i == 0 or i == len(ys):
            return ds[0] if i == 0 else ds[-1]
        y0, y1 = ys[i - 1], ys[i]
        return ds[i - 1] + (ds[i] - ds[i - 1]) * (y - y0) / (y1 - y0) if y1 > y0 else ds[i]

    moved = {i: shift(_y(o)) for i, o in enumerate(objects) if "pos" in o and o["name"] != "legend"}
    edges_in = {e["_gvid"]: e for e in layout.get("edges", [])}
    spans: dict[int, tuple[float, float]] = {}  # each frame's new left and right

    def span(i: int) -> tuple[float, float]:
        if i not in spans:
            obj = objects[i]
            bx1, by1, bx2, by2 = (float(v) for v in obj["bb"].split(","))
            old, new = [], []
            for n in obj.get("nodes", []):
                if n in moved:
                    w = _half(objects[n], "width")
                    old.append((_x(objects[n]) - w, _x(objects[n]) + w))
                    new.append((old[-1][0] + moved[n], old[-1][1] + moved[n]))
            for c in obj.get("subgraphs", []):
                cx1, _, cx2, _ = (float(v) for v in objects[c]["bb"].split(","))
                old.append((cx1, cx2))
                new.append(span(c))
            if not old:
                d = shift((by1 + by2) / 2)
                spans[i] = (bx1 + d, bx2 + d)
                return spans[i]
            left = min(a for a, _ in new) - (min(a for a, _ in old) - bx1)
            right = max(b for _, b in new) + (bx2 - max(b for _, b in old))
            for e in obj.get("edges", []):  # the shapes written beside its edges inside it
                edge = edges_in[e]
                if "lp" in edge and "lwidth" in edge:
                    x, y = (float(v) for v in edge["lp"].split(","))
                    right = max(right, x + shift(y) + _half(edge, "lwidth") + 4)
            first = max((n for n in obj.get("nodes", []) if n in moved), key=lambda n: _y(objects[n]), default=None)
            if first is not None and "lp" in obj:  # its label left of the edge that comes in at the top
                lx = float(obj["lp"].split(",")[0]) - bx1 + left
                over = lx + _half(obj, "lwidth") + 4 - (_x(objects[first]) + moved[first])
                left -= max(0.0, over)
            spans[i] = (left, right)
        return spans[i]

    for i, obj in enumerate(objects):
        if "bb" in obj:
            span(i)
    lefts = [_x(objects[i]) - _half(objects[i], "width") + d for i, d in moved.items()]
    c = 8 - min(lefts + [a for a, _ in spans.values()])  # everything moved right to start at the margin
    out = []
    for i, obj in enumerate(objects):
        obj = dict(obj)
        if i in moved:
            obj["pos"] = f"{_x(obj) + moved[i] + c:.2f},{_y(obj):.2f}"
        elif i in spans:
            bx1, by1, bx2, by2 = (float(v) for v in obj["bb"].split(","))
            new1, new2 = spans[i]
            obj["bb"] = f"{new1 + c:.2f},{by1:.2f},{new2 + c:.2f},{by2:.2f}"
            if "lp" in obj:
                lx, ly = (float(v) for v in obj["lp"].split(","))
                obj["lp"] = f"{lx + new1 - bx1 + c:.2f},{ly:.2f}"
        out.append(obj)
    edges = []
    for edge in layout.get("edges", []):
        edge = dict(edge)
        if "pos" in edge:
            points = list(_points(edge["pos"]))
            plain = [k for k, (prefix, _, _) in enumerate(points) if not prefix]
            ends = {plain[0]: edge["tail"], plain[-1]: edge["head"]} if plain else {}
            tail, head = objects[edge["tail"]], objects[edge["head"]]
            parts = []
            if _straight(points) and edge["tail"] in moved and edge["head"] in moved and _y(tail) != _y(head):
                # a straight edge stays straight, from box to box: aimed at both centres where they are now
                tx, hx = _x(tail) + moved[edge["tail"]], _x(head) + moved[edge["head"]]
                for prefix, _, y in points:
                    x = tx + (hx - tx) * (y - _y(tail)) / (_y(head) - _y(tail))
                    parts.append(f"{prefix}{x + c:.2f},{y:.2f}")
            for k, (prefix, x, y) in enumerate(points if not parts else ()):
                end = edge["head"] if prefix == "e," else edge["tail"] if prefix == "s," else ends.get(k)
                d = moved[end] if end in moved else shift(y)
                parts.append(f"{prefix}{x + d + c:.2f},{y:.2f}")
            edge["pos"] = " ".join(parts)
        if "lp" in edge:
            x, y = (float(v) for v in edge["lp"].split(","))
            edge["lp"] = f"{x + shift(y) + c:.2f},{y:.2f}"
        edges.append(edge)
    right = max([_x(o) + _half(o, "width") for o in out if "pos" in o and o["name"] != "legend"]
                + [float(o["bb"].split(",")[2]) for o in out if "bb" in o])
    result = dict(layout)
    x1, y1, _, y2 = (float(v) for v in layout["bb"].split(","))
    result["objects"], result["edges"] = out, edges
    result["bb"] = f"{x1:.2f},{y1:.2f},{right + 8:.2f},{y2:.2f}"
    return result


