"""Stage 5, diagrams: long networks laid out to fit a page (backends/layout.py, dot_wrap.py): cut into
columns (top to bottom) or rows (left to right), the main line straight, frames around what
they hold, the legend in free space, and a PNG too large for Graphviz drawn smaller, said."""

from __future__ import annotations

import struct

import pytest

import archlang
from archlang.backends import dot
from archlang.backends.dot import DiagramOptions, render_bytes
from archlang.backends import layout
from archlang.backends.layout import _spine, layout_of, pinned_dot
from archlang.cli import main


def graph_of(name: str):
    return archlang.load(name).network(name).graph


def box(obj: dict) -> tuple[float, float, float, float]:
    x, y = (float(v) for v in obj["pos"].split(","))
    w, h = float(obj["width"]) * 36, float(obj["height"]) * 36
    return x - w, y - h, x + w, y + h


def overlap(a, b) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def lines_of(layout: dict, names, axis: int) -> list[list[dict]]:
    """The boxes named, grouped into columns (axis 0) or rows (axis 1): boxes whose extents
    across that axis overlap share one."""
    boxes = sorted((o for o in layout["objects"] if o.get("name") in names), key=lambda o: box(o)[axis])
    out: list[list[dict]] = []
    for o in boxes:
        if out and box(o)[axis] < max(box(p)[axis + 2] for p in out[-1]):
            out[-1].append(o)
        else:
            out.append([o])
    return out


def test_a_long_network_wraps_into_columns_within_4_to_1():
    """resnet152 drawn plainly (515 boxes) is cut into columns at block ends: its PNG is at most
    4 times as tall as it is wide (one column was 75 times), every box is still drawn, and the
    bounding box the layout states is the one drawn (--width/--height fit by it)."""
    graph = graph_of("resnet152")
    layout = layout_of(graph, DiagramOptions())
    png = dot.graphviz.Source(pinned_dot(layout, {"dpi": "36"}), engine="neato").pipe(format="png", neato_no_op=2)
    width, height = struct.unpack(">II", png[16:24])
    assert height <= 4 * width, (width, height)
    x1, y1, x2, y2 = (float(v) for v in layout["bb"].split(","))
    assert abs(width / ((x2 - x1) / 2) - 1) < 0.01 and abs(height / ((y2 - y1) / 2) - 1) < 0.01  # at 36 dpi
    boxes = [o for o in layout["objects"] if "pos" in o and o["name"].startswith("n")]
    assert len(boxes) == len(graph.layers) + 1  # every layer and the input
    frames = [o["label"] for o in layout["objects"] if "bb" in o and o.get("label")]
    assert frames.count("bottleneck(64)") == 3  # each block's frame drawn once, with its label


def test_left_to_right_wraps_into_rows_under_the_title():
    """resnet50 left to right was one strip 77 times as wide as tall: now rows, the title with
    its legend on top (drawn as the HTML it is), the chain entering each row from the left."""
    graph = graph_of("resnet50")
    layout = layout_of(graph, DiagramOptions(rankdir="LR"))
    x1, y1, x2, y2 = (float(v) for v in layout["bb"].split(","))
    assert (x2 - x1) <= 4 * (y2 - y1), layout["bb"]
    boxes = [o for o in layout["objects"] if "pos" in o and o["name"].startswith("n")]
    assert len(boxes) == len(graph.layers) + 1
    assert float(layout["lp"].split(",")[1]) > max(box(o)[3] for o in boxes)
    assert "label=<<TABLE" in pinned_dot(layout)
    assert pinned_dot(layout_of(graph, DiagramOptions(rankdir="LR"))) == pinned_dot(layout)  # the same bytes again
    png = render_bytes(graph_of("lenet5"), "png", DiagramOptions(rankdir="LR", dpi=36))  # 12 layers, 21:1 unwrapped
    width, height = struct.unpack(">II", png[16:24])
    assert width <= 4 * height, (width, height)


@pytest.mark.parametrize("name, rankdir", [("vgg16", "TB"), ("resnet50", "TB"), ("resnet50", "LR")])
def test_the_main_line_is_straight_and_nothing_overlaps(name, rankdir):
    """Graphviz drifts a long chain sideways; wrapped, the main line (a residual block's main
    branch) is one straight line per column (row), no two boxes overlap, the legend and the
    shapes on the edges that cross to the next column cover no box, and no box straddles a
    frame's border."""
    graph, options = graph_of(name), DiagramOptions(rankdir=rankdir)
    layout = layout_of(graph, options)
    main_line, _ = _spine(graph, options)
    axis = 0 if rankdir == "TB" else 1
    lines = lines_of(layout, set(main_line), axis)
    assert len(lines) >= 3  # wrapped
    for line in lines:
        where = [float(o["pos"].split(",")[axis]) for o in line]
        assert max(where) - min(where) < 0.5, [o["label"] for o in line]
    boxes = [box(o) for o in layout["objects"] if "pos" in o]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if overlap(a, b)]
    for edge in layout["edges"]:
        if "lp" in edge and edge.get("label", "").strip():
            x, y = (float(v) for v in edge["lp"].split(","))
            w, h = float(edge["lwidth"]) * 36, float(edge["lheight"]) * 36
            assert not any(overlap((x - w, y - h, x + w, y + h), b) for b in boxes), edge["label"]
    for frame in (o for o in layout["objects"] if "bb" in o):
        f = [float(v) for v in frame["bb"].split(",")]
        for b in boxes:
            inside = f[0] <= (b[0] + b[2]) / 2 <= f[2] and f[1] <= (b[1] + b[3]) / 2 <= f[3]
            assert not inside or (f[0] <= b[0] and b[2] <= f[2] and f[1] <= b[1] and b[3] <= f[3]), frame["name"]


def test_the_legend_goes_where_a_column_ends_early():
    """resnet50 collapsed and folded in two columns: the legend under the shorter one's end,
    not in a strip of its own beside the drawing."""
    layout = layout_of(graph_of("resnet50"), DiagramOptions(collapse=True, fold=True))
    legend = next(o for o in layout["objects"] if o.get("name") == "legend")
    content = [box(o) for o in layout["objects"] if "pos" in o and o is not legend]
    assert [o.get("name") for o in layout["objects"]].count("legend") == 1
    right = max(b[2] for b in content)
    above = [b for b in content if b[0] < box(legend)[2] and box(legend)[0] < b[2]]  # boxes in its column
    assert box(legend)[2] <= right + 1 and above and box(legend)[3] < min(b[1] for b in above)


def test_a_png_too_large_for_graphviz_is_drawn_smaller_and_said(tmp_path, capsys, monkeypatch):
    """Graphviz's cairo draws bitmaps up to 32,767 pixels a side and otherwise shrinks them with
    a warning of its own: archlang lowers the dpi itself and says so in its own words (here with
    the limit lowered to 400 pixels, so that a small drawing shows it)."""
    monkeypatch.setattr(layout, "PNG_MAX_PX", 400)
    out = tmp_path / "l.png"
    assert main(["render", "lenet5", "-o", str(out), "--dpi", "300"]) == 0
    err = capsys.readouterr().err
    assert "note: lenet5 at 300 dpi would be" in err and "more than the 400 a PNG drawn by Graphviz can be" in err
    assert "graph is too large" not in err
    assert max(struct.unpack(">II", out.read_bytes()[16:24])) <= 400
    with pytest.warns(layout.DrawingNote, match=r"drawn at \d+ dpi"):
        render_bytes(graph_of("lenet5"), "png", DiagramOptions(dpi=300))
