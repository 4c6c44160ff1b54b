"""How diagrams look: `render --theme default|paper|slides`.

Every theme draws text in DejaVu Sans, the font Debian's Graphviz brings along (fonts-dejavu-core,
through fontconfig and cairo) and the one most systems have: PDF and PNG output, drawn by cairo,
embed or rasterise it, so a figure looks the same wherever it is opened. (The default was
Helvetica, which fontconfig maps to whatever it finds: Liberation Sans here, Arial or Nimbus
Sans elsewhere, with other widths.)

- default: the colours of each layer family, as before;
- paper: grayscale-safe for print: families told apart by the lightness of their fill and by
  their border (solid, dashed, dotted), black lines, thin strokes;
- slides: the default colours with larger text and thicker lines, readable from the back of a
  room.
"""

from __future__ import annotations

from dataclasses import field

from ..ops import Family
from ..records import record

__all__ = ["Theme", "THEMES", "FONT"]

FONT = "DejaVu Sans"


@record
class Theme:
    name: str
    title_size: int = 16
    node_size: int = 11
    edge_size: int = 9
    cluster_size: int = 10
    legend_size: int = 9
    glyph_size: int = 12
    penwidth: float = 0.8  # boxes' borders
    edge_width: float = 1.0
    edge_colour: str = "#444444"
    edge_text: str = "#555555"
    cluster_colour: str = "#888888"
    cluster_text: str = "#333333"
    skip_colour: str = "#c0392b"
    block_fill: str = "#cfe8e8"
    fills: dict = field(default_factory=dict)  # Family -> fill, where the theme overrides the family's own
    borders: dict = field(default_factory=dict)  # Family -> extra node style ("dashed", "dotted")

    def fill(self, family: Family | None) -> str:
        if family is None:
            return self.block_fill
        return self.fills.get(family, family.fill)

    def border(self, family: Family | None) -> str | None:
        return self.borders.get(family)


# paper: five lightness steps a grayscale print keeps apart, and borders for the light families
_PAPER_FILLS = {
    Family.CONV: "#c4c4c4", Family.FC: "#9c9c9c", Family.ATTENTION: "#b0b0b0", Family.RECURRENT: "#b0b0b0",
    Family.EMBED: "#dadada", Family.POOL: "#e6e6e6", Family.NORM: "#ffffff", Family.ACTIVATION: "#f2f2f2",
    Family.OTHER: "#ffffff", Family.MERGE: "#ffffff", Family.INPUT: "#ffffff",
}
_PAPER_BORDERS = {Family.NORM: "dashed", Family.OTHER: "dotted", Family.EMBED: "dashed"}

THEMES: dict[str, Theme] = {
    "default": Theme("default"),
    "paper": Theme("paper", penwidth=0.5, edge_width=0.6, edge_colour="#000000", edge_text="#000000", cluster_colour="#555555",
                   cluster_text="#000000", skip_colour="#000000", block_fill="#ffffff", fills=_PAPER_FILLS,
                   borders=_PAPER_BORDERS),
    "slides": Theme("slides", title_size=26, node_size=18, edge_size=14, cluster_size=15, legend_size=14,
                    glyph_size=18, penwidth=1.4, edge_width=1.8),
}
