"""The per-layer table for documents: `archlang check --format latex|markdown|csv [--columns
LIST]`, the same columns as the terminal table (plus those `--count` and `--memory` add).

- markdown: a GitHub table, figures and shapes right-aligned as in the terminal, thousands
  separated, the totals as a bold last row;
- latex: a `tabular` with booktabs rules (`\\usepackage{booktabs}`), figures right-aligned with
  thousands separators, shapes with `\\times`, an en dash for "-", the totals after a rule;
- csv: raw integers (no separators), one header row of column keys, the totals as a last row
  named `Total`, empty cells where the table shows "-".
Each is a pure function of the analysed network: the same spec gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import re

from .ir import compact
from .network import Network
from .records import record

__all__ = ["FORMATS", "COLUMNS", "TableColumn", "columns_of", "render_table", "UnknownColumn"]

FORMATS = ("markdown", "latex", "csv")


class UnknownColumn(ValueError):
    """A `--columns` name that is not a column of this table; the message lists them."""


@record
class TableColumn:
    """key: what `--columns` calls it; header: what the table prints; right: right-aligned (as
    the terminal table aligns figures and shapes); values: one per layer (an int, printed with
    thousands separators but in CSV, a text, or None for "-"); total: the footer's (None: empty)."""

    key: str
    header: str
    right: bool
    values: tuple
    total: int | str | None = None


# the terminal table's columns, by key, in its order
COLUMNS = ("layer", "op", "output", "params", "macs", "rf", "jump")


def columns_of(net: Network, extra: tuple[TableColumn, ...] = ()) -> list[TableColumn]:
    """The table's columns: the terminal table's, with `extra` after MACs."""
    spatial = any(t.rank or t.tokens for _, t in net.inputs)
    layers = net.layers
    rf = [info.receptive_field for info in layers]
    base = [
        TableColumn("layer", "Layer", False, tuple(info.name for info in layers), "Total"),
        TableColumn("op", "Op", False, tuple(info.op for info in layers)),
        TableColumn("output", "Output", True, tuple(str(info.node.type) for info in layers)),
        TableColumn("params", "Params", True, tuple(info.params or None for info in layers), net.total_params),
        TableColumn("macs", "MACs", True, tuple(info.macs or None for info in layers), net.total_macs),
        TableColumn("rf", "RF", True, tuple(compact(f.size) if f else "global" if spatial else None for f in rf)),
        TableColumn("jump", "Jump", True, tuple(compact(f.jump) if f else None for f in rf)),
    ]
    return base[:5] + list(extra) + base[5:]


def choose(columns: list[TableColumn], keys: list[str] | None) -> list[TableColumn]:
    """The columns named by `keys` in that order (all of them for None); UnknownColumn for a
    name the table does not have."""
    if keys is None:
        return columns
    by_key = {c.key: c for c in columns}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise UnknownColumn(f"no column {', '.join(repr(k) for k in unknown)}; columns: {', '.join(by_key)}")
    return [by_key[k] for k in keys]


def render_table(net: Network, fmt: str, columns: list[TableColumn]) -> str:
    """The table in `fmt` ("markdown", "latex" or "csv"), ending in a newline."""
    return {"markdown": _markdown, "latex": _latex, "csv": _csv}[fmt](net, columns)


def _text(value, missing: str = "-") -> str:
    if value is None:
        return missing
    return f"{value:,}" if isinstance(value, int) else str(value)


def _markdown(net: Network, columns: list[TableColumn]) -> str:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c.header) for c in columns) + " |",
             "|" + "|".join("---:" if c.right else ":---" for c in columns) + "|"]
    for i in range(len(net.layers)):
        lines.append("| " + " | ".join(cell(_text(c.values[i])) for c in columns) + " |")
    if any(c.total is not None for c in columns):
        lines.append("| " + " | ".join(f"**{cell(_text(c.total))}**" if c.total is not None else ""
                                       for c in columns) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SHAPE = re.compile(r"(?<=\d|\])x(?=\d)")  # the x between sizes: 3x224x224, [197]x768, conv 3x3


def _latex_cell(text: str) -> str:
    escaped = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return _SHAPE.sub(r"$\\times$", escaped)


def _latex(net: Network, columns: list[TableColumn]) -> str:
    spec = "".join("r" if c.right else "l" for c in columns)
    row = lambda cells: " & ".join(cells) + r" \\"
    lines = [f"% {net.name}: {net.graph.signature} (archlang check --format latex; needs \\usepackage{{booktabs}})",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             row(_latex_cell(c.header) for c in columns), r"\midrule"]
    for i in range(len(net.layers)):
        lines.append(row(_latex_cell(_text(c.values[i], "--")) for c in columns))
    if any(c.total is not None for c in columns):
        lines += [r"\midrule", row(_latex_cell(_text(c.total)) if c.total is not None else ""
                                   for c in columns)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _csv(net: Network, columns: list[TableColumn]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    raw = lambda v: "" if v is None else v
    for i in range(len(net.layers)):
        writer.writerow([raw(c.values[i]) for c in columns])
    if any(c.total is not None for c in columns):
        writer.writerow([raw(c.total) for c in columns])
    return out.getvalue()
