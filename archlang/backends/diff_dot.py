"""Backend: a comparison of two IR graphs (`compare.Diff`) -> one Graphviz diagram of both
(DOT with the graphviz package; SVG, PNG and PDF through Graphviz's `dot`).

The merged graph: B's layers, with A's removed layers where they were; the edges of both.
Added layers are green, removed ones red and dashed, changed ones amber with the arguments
that changed (`out_channels 64 -> 32`); the rest are grey. An edge only A had is red and
dashed, one only B has is green; a shape that changed is shown with what it was. Block
instances are frames as `archlang render` draws them; an instance added whole has a green
frame, one removed whole a red one. Identifiers are generated (`b12`, `a3`), never spec text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import graphviz

from ..errors import ArchError
from ..ir import Graph, Node
from .dot import GRAPHVIZ_FORMATS as FORMATS, MAX_DRAWN, _text, source_bytes
from .themes import FONT

if TYPE_CHECKING:
    from ..compare import Diff

__all__ = ["to_dot", "render", "render_bytes", "STATUS"]

# status -> (fill, border, legend)
STATUS = {
    "added": ("#b9e4b4", "#2e7d32", "added (in B only)"),
    "removed": ("#f6c1bb", "#c0392b", "removed (in A only)"),
    "changed": ("#ffd27a", "#b26a00", "changed arguments"),
    "same": ("#f2f2f2", "#777777", "unchanged"),
}
CHANGES_SHOWN = 3  # changed arguments written in a box


def to_dot(diff: "Diff", a: Graph, b: Graph, rankdir: str = "TB") -> graphviz.Digraph:
    """The merged diagram as a graphviz.Digraph (its `.source` is the DOT text)."""
    from ..compare import _value

    to_b = dict(diff.pairs)
    to_a = {nb: na for na, nb in diff.pairs}
    removed = [n for n in a.nodes if n.name not in to_b]
    if len(b.nodes) + len(removed) > MAX_DRAWN:
        raise ArchError(f"the diagram of {diff.a} -> {diff.b} would have {len(b.nodes) + len(removed):,} boxes; "
                        f"Graphviz lays out at most {MAX_DRAWN:,} in reasonable time",
                        hint="compare smaller networks, or read the text or --json report")
    ids = {("b", n.name): f"b{i}" for i, n in enumerate(b.nodes)}
    ids.update({("a", n.name): f"a{i}" for i, n in enumerate(a.nodes) if n.name not in to_b})

    def of_a(name: str) -> str:
        return ids[("b", to_b[name])] if name in to_b else ids[("a", name)]

    dot = graphviz.Digraph(name="diff", strict=False)
    title = f"{diff.a} -> {diff.b}   params {diff.params.text()}"
    dot.attr(rankdir=rankdir, fontname=FONT, labelloc="t", label=_text(title), fontsize="16",
             nodesep="0.25", ranksep="0.3", newrank="true")
    dot.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled", penwidth="1",
             height="0.3", margin="0.12,0.04")
    dot.attr("edge", fontname=FONT, fontsize="9", fontcolor="#555555", color="#444444", arrowsize="0.6")

    added = {x.name for x in diff.added}
    changed = {c.name: c for c in diff.changed}
    boxes: list[tuple[tuple, str, dict]] = []  # (cluster key, id, attributes)
    for node in b.nodes:
        status = "added" if node.name in added else "changed" if node.name in changed else "same"
        extra = ""
        if node.name in changed:
            fields = changed[node.name].fields
            extra = "; ".join(f"{f} {_value(x)} -> {_value(y)}" for f, x, y in fields[:CHANGES_SHOWN])
            extra += " ..." if len(fields) > CHANGES_SHOWN else ""
        was = a.node(to_a[node.name]).type if node.name in to_a else None
        if not node.inputs:
            extra = f"was {was}" if was is not None and was != node.type else ""
        key = tuple(("b", ".".join(s.name for s in node.scopes[:d])) for d in range(1, len(node.scopes) + 1))
        boxes.append((key, ids[("b", node.name)], _box(node, status, extra)))
    placed = _placement(a, b, to_b)
    for node in removed:
        boxes.append((placed[node.name], ids[("a", node.name)], _box(node, "removed", "")))

    frames = _frames(a, b, added, {n.name for n in removed})
    tree: dict[tuple, list] = {(): []}
    for key, box_id, attrs in boxes:
        for depth in range(1, len(key) + 1):
            if key[:depth] not in tree:
                tree[key[:depth]] = []
                tree[key[:depth - 1]].append(("frame", key[:depth]))
        tree[key].append(("box", (box_id, attrs)))

    count = [0]

    def emit(target, key: tuple) -> None:
        for kind, entry in tree[key]:
            if kind == "frame" and len(tree[entry]) == 1 and tree[entry][0][0] == "box":
                kind, entry = tree[entry][0]  # a frame around one box only adds noise
            if kind == "box":
                target.node(entry[0], **entry[1])
            else:
                label, status = frames[entry[-1]]
                count[0] += 1
                with target.subgraph(name=f"cluster_{count[0]}") as sub:
                    sub.attr(label=_text(label), style="rounded,dashed", color=STATUS[status][1], fontsize="10",
                             fontcolor="#333333", labeljust="l", penwidth="1.5" if status != "same" else "1")
                    emit(sub, entry)

    emit(dot, ())
    _edges(dot, a, b, ids, of_a)
    for i, (node, name) in enumerate(zip(b.outputs, b.output_names)):
        out_id = "output" if len(b.outputs) == 1 else f"output{i}"
        dot.node(out_id, label=_text(f"{name}  {b.node(node).type}"), shape="plaintext", style="")
        dot.edge(ids[("b", node)], out_id)
    shown = {"added": diff.added, "removed": diff.removed, "changed": diff.changed, "same": True}
    rows = "".join(f'<TR><TD BGCOLOR="{fill}" WIDTH="14" HEIGHT="10" BORDER="1"></TD>'
                   f'<TD ALIGN="LEFT"> {words}</TD></TR>' for status, (fill, _, words) in STATUS.items() if shown[status])
    dot.node("legend", label=f'<<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="0">{rows}</TABLE>>',
             shape="plaintext", style="", fontsize="9")
    return dot


def _box(node: Node, status: str, extra: str) -> dict:
    fill, border, _ = STATUS[status]
    attrs = {"fillcolor": fill, "color": border, "tooltip": _text(node.name)}
    if status == "removed":
        attrs["style"] = "rounded,filled,dashed"
    if status != "same":
        attrs["penwidth"] = "1.6"
    if not node.inputs:
        label = f"{node.name}  {node.type}"
        return {**attrs, "label": _text(label + (f"\n{extra}" if extra else "")), "shape": "plaintext",
                "style": "", "fontcolor": border if status != "same" else "#000000"}
    if node.op.glyph is not None and not extra:
        return {**attrs, "label": _text(node.op.glyph), "shape": "circle", "width": "0.3", "fixedsize": "true",
                "fontsize": "12"}
    return {**attrs, "label": "\\n".join(_text(line) for line in (node.op.label(), extra) if line)}


def _placement(a: Graph, b: Graph, to_b: dict) -> dict[str, tuple]:
    """The frame of each removed node of A: inside B's frame of the same block instance where
    another layer of that instance matched one of B's; otherwise in a frame of its own (an
    instance removed whole), inside the nearest enclosing instance that matched."""
    first: dict[tuple[str, ...], Node] = {}  # A's block path -> its first matched layer
    for node in a.layers:
        if node.name in to_b:
            for depth in range(1, len(node.scopes) + 1):
                first.setdefault(tuple(s.name for s in node.scopes[:depth]), node)
    placed = {}
    for node in a.nodes:
        if node.name in to_b:
            continue
        path = tuple(s.name for s in node.scopes)
        key: tuple = ()
        k = len(path)
        while k:
            host = first.get(path[:k])
            if host is not None:
                other = b.node(to_b[host.name])
                depth = k + len(other.scopes) - len(host.scopes)
                if depth >= 1:
                    key = tuple(("b", ".".join(s.name for s in other.scopes[:d])) for d in range(1, depth + 1))
                    break
            k -= 1
        placed[node.name] = key + tuple(("a", ".".join(path[:d])) for d in range(k + 1, len(path) + 1))
    return placed


def _frames(a: Graph, b: Graph, added: set[str], removed: set[str]) -> dict[tuple, tuple[str, str]]:
    """Each frame's (label, status): B's block instances, green where every layer was added;
    A's instances removed whole, red."""
    frames: dict[tuple, tuple[str, str]] = {}
    for side, graph, gone in (("b", b, added), ("a", a, removed)):
        whole: dict[str, bool] = {}
        for node in graph.layers:
            for d in range(1, len(node.scopes) + 1):
                path = ".".join(s.name for s in node.scopes[:d])
                whole[path] = whole.get(path, True) and node.name in gone
                frames[(side, path)] = (node.scopes[d - 1].label, "")
        for path, all_gone in whole.items():
            status = ("added" if side == "b" else "removed") if all_gone else "same"
            frames[(side, path)] = (frames[(side, path)][0], status)
    return frames


def _edges(dot: graphviz.Digraph, a: Graph, b: Graph, ids: dict, of_a) -> None:
    """B's edges (green where A has no such edge), then A's that B lacks (red, dashed)."""
    in_b: dict[tuple[str, str], Node] = {}
    in_a: dict[tuple[str, str], Node] = {}
    for graph, edges, box in ((b, in_b, lambda n: ids[("b", n)]), (a, in_a, of_a)):
        for node in graph.layers:
            for src in node.inputs:
                edges.setdefault((box(src), box(node.name)), graph.node(src))
    for key, src in in_b.items():
        label, attrs = f" {src.type} ", {}
        if key in in_a and in_a[key].type != src.type:
            label, attrs = f" {src.type} (was {in_a[key].type}) ", {"fontcolor": STATUS["changed"][1]}
        elif key not in in_a:
            attrs = {"color": STATUS["added"][1], "fontcolor": STATUS["added"][1], "penwidth": "1.3"}
        dot.edge(*key, label=_text(label), **attrs)
    for key, src in in_a.items():
        if key not in in_b:
            dot.edge(*key, label=_text(f" {src.type} "), color=STATUS["removed"][1], fontcolor=STATUS["removed"][1],
                     style="dashed", penwidth="1.3")


def render_bytes(diff: "Diff", a: Graph, b: Graph, fmt: str) -> bytes:
    return source_bytes(to_dot(diff, a, b), fmt, f"{diff.a} -> {diff.b}")


def render(diff: "Diff", a: Graph, b: Graph, path: str | Path, *, inputs=()) -> Path:
    """Write the diagram; the format comes from the suffix (.svg, .png, .pdf, .dot)."""
    from ..output import write_atomic

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ArchError(f"cannot draw to '{path.suffix or path.name}'",
                        hint="formats: " + ", ".join(f".{f}" for f in FORMATS))
    return write_atomic(path, render_bytes(diff, a, b, fmt), inputs=inputs)
