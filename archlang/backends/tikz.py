"""Backend: the diagram as TikZ, for LaTeX documents (`render -o fig.tex [--tikz-body]`).

Graphviz lays the diagram out as for every other format (the same `to_dot`, the same options);
its JSON gives each box's centre and size, each edge's Bézier control points and label
position, and each block's frame. This writes them as TikZ in points (`x=1pt, y=1pt`):
- a box per node (`\\node[box, fill=archconv]`), merges as circles with their glyph;
- edges as the same curves with an arrow tip, labelled with the tensor that flows;
- block instances as dashed frames with their call as a label;
- the legend, and the title;
- colours as named `xcolor`s defined once at the top of the picture (`archconv`, `archpool`,
  ...), so an author changes a family's colour in one place; the styles (`box`, `arrow`,
  `frame`, `shape label`) likewise.
Text is set in the document's sans-serif font at the sizes the diagram was laid out for.
The standalone file (`\\documentclass[tikz]{standalone}`) compiles on its own with pdflatex;
`--tikz-body` writes only the `tikzpicture`, for `\\input` in a document that loads TikZ.
The same spec and options give the same bytes.
"""

from __future__ import annotations

import html
import re

from ..ir import Graph
from ..ops import Family
from ..tables import _latex_cell

__all__ = ["to_tikz"]

_GLYPHS = {"+": r"$+$", "×": r"$\times$", "C": r"C"}


def _colour_names(theme) -> dict[str, str]:
    """Fill colour (upper-case hex) -> its name: one per family, and the repeated block's."""
    names: dict[str, str] = {}
    for family in Family:
        names.setdefault(theme.fill(family).upper(), f"arch{family.value}")
    names.setdefault(theme.block_fill.upper(), "archblock")
    return names


_SYMBOLS = {"·": r"$\cdot$", "×": r"$\times$", "→": r"$\to$"}


def _text(label: str) -> str:
    """A Graphviz label as TikZ node text: its lines (Graphviz's \\n) as \\\\, escaped, its
    symbols (· × ->) in math mode, which every font has."""
    def line(part: str) -> str:
        text = _latex_cell(part.replace("->", "→"))
        for symbol, tex in _SYMBOLS.items():
            text = text.replace(symbol, tex)
        return text

    return r" \\ ".join(line(part) for part in label.split("\\n"))


def _pt(value: str) -> str:
    return f"{float(value):g}"


def to_tikz(graph: Graph, options, body_only: bool = False) -> str:
    """The diagram as a standalone LaTeX file, or only its tikzpicture (`body_only`)."""
    from .layout import layout_of
    from .themes import THEMES

    theme = THEMES[options.theme]
    layout = layout_of(graph, options)  # wrapped into columns where too tall, as every drawn format
    names = _colour_names(theme)
    for hexa, name in ((theme.edge_colour, "archedge"), (theme.edge_text, "archedgetext"),
                       (theme.cluster_colour, "archframe"), (theme.skip_colour, "archskip")):
        names.setdefault(hexa.upper(), name)
    extra: dict[str, str] = {}  # colours the families do not name (edges, frames, marks)

    def colour(value: str | None, default: str) -> str:
        if not value or value in ("transparent", "none"):
            return default
        key = value.upper()
        if key in names:
            return names[key]
        if not re.fullmatch(r"#[0-9A-F]{6}", key):
            return default
        return extra.setdefault(key, f"archc{len(extra) + 1}")

    lines: list[str] = []
    # frames first, outermost first (Graphviz lists them in that order), boxes over them
    for obj in layout.get("objects", []):
        if obj.get("name", "").startswith("cluster") and "bb" in obj:
            x1, y1, x2, y2 = (float(v) for v in obj["bb"].split(","))
            lines.append(rf"  \draw[frame] ({x1:g},{y1:g}) rectangle ({x2:g},{y2:g});")
            if obj.get("label"):
                lines.append(rf"  \node[frame label] at ({x1 + 5:g},{y2 - 3:g}) {{{_text(obj['label'])}}};")
    by_id = {obj["_gvid"]: obj for obj in layout.get("objects", []) if "pos" in obj}
    for obj in by_id.values():
        x, y = (_pt(v) for v in obj["pos"].split(","))
        w, h = float(obj["width"]) * 72, float(obj["height"]) * 72
        label = obj.get("label", "")
        shape = obj.get("shape", "box")
        if label.startswith("<"):  # the legend: an HTML table of (colour, words)
            lines += _legend(label, float(x), float(y), w, h, colour)
            continue
        if shape == "point":
            continue
        fill = colour(obj.get("fillcolor"), "white")
        if shape == "plaintext":
            lines.append(rf"  \node[plain] ({obj['name']}) at ({x},{y}) {{{_text(label)}}};")
        elif shape == "circle":
            lines.append(rf"  \node[merge, fill={fill}, minimum size={w:.1f}pt] ({obj['name']}) at ({x},{y}) "
                         rf"{{{_GLYPHS.get(label, _text(label))}}};")
        else:
            style = "box"
            if "dashed" in obj.get("style", ""):
                style += ", dashed"
            elif "dotted" in obj.get("style", ""):
                style += ", dotted"
            if shape == "box3d":
                style += ", block"
            lines.append(rf"  \node[{style}, fill={fill}, minimum width={w:.1f}pt, minimum height={h:.1f}pt] "
                         rf"({obj['name']}) at ({x},{y}) {{{_text(label)}}};")
    for edge in layout.get("edges", []):
        if edge.get("style") == "invis" or "pos" not in edge:
            continue
        line = colour(edge.get("color"), names[theme.edge_colour.upper()])
        text = colour(edge.get("fontcolor"), names[theme.edge_text.upper()])
        lines.append(_edge(edge, line))
        if edge.get("label") and "lp" in edge:
            lx, ly = (_pt(v) for v in edge["lp"].split(","))
            lines.append(rf"  \node[shape label, text={text}] at ({lx},{ly}) {{{_text(edge['label'].strip())}}};")
    if layout.get("label") and "lp" in layout:
        tx, ty = (_pt(v) for v in layout["lp"].split(","))
        if not layout["label"].startswith("<"):
            lines.append(rf"  \node[title] at ({tx},{ty}) {{{_text(layout['label'])}}};")
        else:  # left to right: the title with the legend as one row under it (an HTML table)
            lines += _title_row(layout["label"], float(tx), float(ty), float(layout.get("lheight", 0)) * 72,
                                theme, colour)

    colours = [rf"  \definecolor{{{name}}}{{HTML}}{{{hexa[1:]}}}" for hexa, name in names.items()]
    colours += [rf"  \definecolor{{{name}}}{{HTML}}{{{hexa[1:]}}}" for hexa, name in extra.items()]
    size = lambda pt: rf"\fontsize{{{pt}}}{{{round(pt * 1.2, 1):g}}}\selectfont"
    styles = [
        rf"  box/.style={{draw, rounded corners=3pt, inner sep=0pt, align=center, line width={theme.penwidth:g}pt, "
        rf"font=\sffamily{size(theme.node_size)}}},",
        r"  block/.style={double, double distance=0.8pt},",
        rf"  merge/.style={{circle, draw, inner sep=0pt, line width={theme.penwidth:g}pt, "
        rf"font=\sffamily{size(theme.glyph_size)}}},",
        rf"  plain/.style={{inner sep=0pt, align=center, font=\sffamily{size(theme.node_size)}}},",
        rf"  arrow/.style={{-{{Stealth[length=4pt, width=3pt]}}, line width={theme.edge_width:g}pt}},",
        rf"  shape label/.style={{inner sep=0pt, font=\sffamily{size(theme.edge_size)}}},",
        rf"  frame/.style={{draw={names[theme.cluster_colour.upper()]}, dashed, rounded corners=5pt, line width=0.5pt}},",
        rf"  frame label/.style={{anchor=north west, inner sep=0pt, text={names[theme.cluster_colour.upper()]}, "
        rf"font=\sffamily{size(theme.cluster_size)}}},",
        rf"  legend/.style={{anchor=west, inner sep=0pt, font=\sffamily{size(theme.legend_size)}}},",
        rf"  title/.style={{font=\sffamily{size(theme.title_size)}}},",
    ]
    picture = "\n".join([
        f"% {graph.name}: {graph.signature} (archlang render; the colours and styles below are the ones to change)",
        r"\begin{tikzpicture}[x=1pt, y=1pt,",
        *styles,
        "]",
        *colours,
        *lines,
        r"\end{tikzpicture}",
    ]) + "\n"
    if body_only:
        return picture
    return ("\\documentclass[tikz, border=4pt]{standalone}\n\\usetikzlibrary{arrows.meta}\n\\begin{document}\n"
            + picture + "\\end{document}\n")


def _edge(edge: dict, colour: str) -> str:
    """Graphviz's spline (`e,x,y` the arrow's tip, then 3n + 1 Bézier points) as a TikZ path."""
    parts = edge["pos"].split()
    end = start = None
    points = []
    for part in parts:
        if part.startswith("e,"):
            end = part[2:]
        elif part.startswith("s,"):
            start = part[2:]
        else:
            points.append(part)
    xy = lambda p: "({},{})".format(*(_pt(v) for v in p.split(",")))
    path = xy(points[0])
    for i in range(1, len(points) - 2, 3):
        path += f" .. controls {xy(points[i])} and {xy(points[i + 1])} .. {xy(points[i + 2])}"
    style = "arrow" if end else "-"
    if edge.get("dir") == "back":
        style = "{Stealth[length=4pt, width=3pt]}-" if start else "-"
    dash = ", dashed" if "dashed" in edge.get("style", "") else ""
    tail = f" -- {xy(end)}" if end else ""
    head = f"{xy(start)} -- " if start else ""
    return rf"  \draw[{style}, draw={colour}{dash}] {head}{path}{tail};"


def _title_row(label: str, x: float, y: float, h: float, theme, colour) -> list[str]:
    """A left-to-right drawing's title (centred at x, y: the label's middle, h tall) and its
    legend as a row under it: each swatch, its words, the row centred."""
    title = html.unescape(re.search(r"<TD>(.*?)</TD>", label).group(1))
    cells = re.findall(r'BGCOLOR="(#[0-9a-fA-F]{6})"[^>]*?(?:STYLE="(\w+)")?[^>]*></TD><TD ALIGN="LEFT">'
                       r'(?:<FONT[^>]*>)?\s*(.*?)\s*(?:</FONT>)?</TD>', label)
    out = [rf"  \node[title, anchor=north] at ({x:.1f},{y + h / 2:.1f}) {{{_text(title)}}};"]
    widths = [16 + len(words) * theme.legend_size * 0.55 + 12 for _, _, words in cells]
    left, cy = x - sum(widths) / 2, y - h / 2 + 6
    for (fill, border, words), width in zip(cells, widths):
        dash = f", {border}" if border else ""
        out.append(rf"  \draw[fill={colour(fill, 'white')}{dash}, line width=0.4pt] ({left:.1f},{cy - 4:.1f}) "
                   rf"rectangle ({left + 12:.1f},{cy + 4:.1f});")
        out.append(rf"  \node[legend] at ({left + 16:.1f},{cy:.1f}) {{{_latex_cell(html.unescape(words))}}};")
        left += width
    return out


def _legend(label: str, x: float, y: float, w: float, h: float, colour) -> list[str]:
    """The legend's rows (a swatch, its words) stacked from the top of its box."""
    rows = re.findall(r'BGCOLOR="(#[0-9a-fA-F]{6})"[^>]*?(?:STYLE="(\w+)")?[^>]*></TD><TD ALIGN="LEFT">\s*(.*?)</TD>',
                      label)
    out = []
    step = h / max(len(rows), 1)
    left, top = x - w / 2, y + h / 2
    for i, (fill, border, words) in enumerate(rows):
        cy = top - step * (i + 0.5)
        dash = f", {border}" if border else ""
        out.append(rf"  \draw[fill={colour(fill, 'white')}{dash}, line width=0.4pt] ({left:.1f},{cy - 4:.1f}) "
                   rf"rectangle ({left + 12:.1f},{cy + 4:.1f});")
        out.append(rf"  \node[legend] at ({left + 16:.1f},{cy:.1f}) {{{_latex_cell(words.strip())}}};")
    return out
