"""Terminal reports: the per-layer table of `archlang check` (written directly, fast for any
size) and the bundled library's table of `archlang list` (rich)."""

from __future__ import annotations

import io
import re

from rich import box
from rich.console import Console
from rich.table import Table

from .ir import compact
from .network import Network
from .records import record
from .units import si

__all__ = ["Column", "summary_rows", "summary_lines", "print_summary", "print_listing", "human", "macs_and_flops"]

def human(n: int, digits: int = 2) -> str:
    """1234567 -> '1.23 M'."""
    return si(n, f".{digits}f")


def _natural(name: str) -> list:
    """resnet18 before resnet101."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _print_wide(table: Table, console: Console | None) -> Console:
    """Print a table without squeezing it into a narrow terminal or a pipe (rows would break
    mid-name): the console grows to the table's natural width."""
    if console is None:
        console = Console()
        console.width = max(console.width, Console(file=io.StringIO(), width=1000).measure(table).maximum)
    console.print(table)
    return console


# the per-layer table: (header, right-justified) per column
COLUMNS = (("Layer", False), ("Op", False), ("Output", True), ("Params", True), ("MACs", True), ("RF", True),
           ("Jump", True))


@record
class Column:
    """A column `check` adds after MACs (`--count`, `--memory`): a header, one cell per layer
    and the footer's total (right-justified, as every figure)."""

    header: str
    cells: tuple[str, ...]
    footer: str = ""


def summary_rows(net: Network) -> list[tuple[str, ...]]:
    spatial_input = any(t.rank or t.tokens for _, t in net.inputs)
    no_field = ("global" if spatial_input else "-", "")
    rows = []
    types: dict[int, str] = {}  # by id: the layers of a long chain share their types, fields and figures
    fields: dict[int, tuple[str, str]] = {}
    figures: dict[int, str] = {0: "-"}
    for n, label, _, params, macs, rf in net.described():
        t = n.type
        shown = types.get(id(t))
        if shown is None:
            shown = types[id(t)] = str(t)
        field = fields.get(id(rf))
        if field is None:
            field = fields[id(rf)] = (compact(rf.size), compact(rf.jump)) if rf else no_field
        p = figures.get(params)
        if p is None:
            p = figures[params] = f"{params:,}"
        m = figures.get(macs)
        if m is None:
            m = figures[macs] = f"{macs:,}"
        rows.append((n.name, label, shown, p, m, *field))
    return rows


def summary_lines(net: Network, color: bool = False, extra: tuple[Column, ...] = ()) -> list[str]:
    """The per-layer table of `archlang check`, laid out as rich's SIMPLE_HEAD table (title,
    header, rule, rows, footer) but written directly: rich takes about a millisecond a row,
    and a spec may have 100,000 layers. Plain text unless `color` (ANSI: bold title, header
    and footer, the op coloured by its family). `extra` columns go after MACs."""
    at = 5  # after MACs
    columns = COLUMNS[:at] + tuple((c.header, True) for c in extra) + COLUMNS[at:]
    rows = [row[:at] + tuple(c.cells[i] for c in extra) + row[at:] for i, row in enumerate(summary_rows(net))]
    footer = ("Total", "", "", f"{net.total_params:,}", f"{net.total_macs:,}", *(c.footer for c in extra), "", "")
    widths = [len(h) for h, _ in columns]
    for row in (*rows, footer):
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    total = sum(widths) + 3 * len(widths) + 1
    if color:
        from rich.style import Style

        ansi = lambda style, text: Style.parse(style).render(text) if text else text
    else:
        ansi = lambda style, text: text

    def line(cells, style=None, families=None) -> str:
        parts = []
        for i, (cell, (_, right)) in enumerate(zip(cells, columns)):
            text = cell.rjust(widths[i]) if right else cell.ljust(widths[i])
            if style:
                text = ansi(style, text)
            elif families is not None and i == 1:
                text = ansi(families, text)
            parts.append(text)
        return "  " + "   ".join(parts) + "  "

    title = f"{net.name}  {net.graph.signature}"
    out = [ansi("bold", title) + " " * max(0, total - len(title)), " " * total,
           line([h for h, _ in columns], "bold"), " " + "─" * (total - 2) + " "]
    # a row is `line` for its cells, written by one format (a coloured op cell padded first:
    # the format then adds nothing to it)
    row_format = ("  " + "   ".join(f"{{:{'>' if right else '<'}{width}}}" for (_, right), width in zip(columns, widths))
                  + "  ").format
    if color:
        styled: dict[tuple, str] = {}
        for (n, *_), row in zip(net.described(), rows):
            style = n.op.family.style
            if style != "default":
                key = (style, row[1])
                op = styled.get(key)
                if op is None:
                    op = styled[key] = ansi(style, row[1].ljust(widths[1]))
                row = (row[0], op, *row[2:])
            out.append(row_format(*row))
    else:
        out += [row_format(*row) for row in rows]
    out += [" " * total, line(footer, "bold"), " " * total]
    return out


def print_summary(net: Network, file=None, extra: tuple[Column, ...] = (), notes: tuple[str, ...] = ()) -> None:
    """The table and its totals; `notes` are further total lines (`--count`, `--memory`)."""
    import os
    import sys

    file = file or sys.stdout
    color = file.isatty() and "NO_COLOR" not in os.environ
    size_mib = net.total_params * 4 / 2**20
    text = "\n".join(summary_lines(net, color, extra)) + (
        f"\n  params  {net.total_params:,} ({human(net.total_params)}; {size_mib:,.1f} MiB as float32)\n"
        f"  MACs    {net.total_macs:,} ({macs_and_flops(net.total_macs)})\n"
        f"  layers  {net.layer_count}\n"
        + (f"  projections  {net.projections} (residual shortcuts that change the shape: conv1x1 -> bn; "
           f"shortcut=... chooses another)\n" if net.projections else "")
        + "".join(f"  {note}\n" for note in notes)
        + "\n"
    )
    file.write(text)


def macs_and_flops(macs: int) -> str:
    """A MAC total in both units readers quote: '4.09 GMACs = 8.18 GFLOPs' (a
    multiply-accumulate is two floating-point operations)."""
    return f"{si(macs, '.2f', ' ', 'MACs')} = {si(2 * macs, '.2f', ' ', 'FLOPs')}"


def print_listing(networks: list[Network], specs: dict[str, str], console: Console | None = None) -> None:
    """The bundled library as one table: what `archlang list` prints."""
    table = Table(box=box.SIMPLE_HEAD, title="[bold]bundled networks[/]", title_justify="left")
    table.add_column("Network", no_wrap=True)
    table.add_column("Spec", no_wrap=True)
    table.add_column("Input", justify="right", no_wrap=True)
    table.add_column("Output", justify="right", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("Layers", justify="right", no_wrap=True)
    for net in sorted(networks, key=lambda n: (specs[n.name], _natural(n.name))):
        table.add_row(
            net.name, specs[net.name], *net.graph.signature.split(" -> "),
            f"{net.total_params:,}", human(net.total_macs, 3), str(net.layer_count),
        )
    _print_wide(table, console)


def print_solutions(program, solved, shown: int | None = 10, file=None) -> None:
    """`archlang solve`'s table: the solutions ranked, the first marked, each with the
    network's parameters and MACs (shown rows only)."""
    import os
    import sys

    file = file or sys.stdout
    console = Console(file=file, force_terminal=False, no_color=not file.isatty() or "NO_COLOR" in os.environ,
                      width=max(100, Console(file=file).width), highlight=False)
    count = f"{len(solved.solutions):,}" if solved.complete else f"at least {len(solved.solutions):,} (--limit)"
    console.print(f"[bold]{solved.network}[/]: {count} solution{'' if len(solved.solutions) == 1 else 's'} for "
                  f"{len(solved.holes)} hole{'' if len(solved.holes) == 1 else 's'}, best first")
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("", no_wrap=True)
    for h in solved.holes:
        table.add_column(f"{h.label}\n{h.argument}", justify="right", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    rows = solved.solutions if shown is None else solved.solutions[:shown]
    for i, values in enumerate(rows):
        net = program.network(solved.network, values)
        table.add_row("best" if i == 0 else str(i + 1), *(str(values.get(h.key, "any")) for h in solved.holes),
                      f"{net.total_params:,}", f"{net.total_macs:,}")
    console.print(table)
    if shown is not None and len(solved.solutions) > shown:
        console.print(f"  ... {len(solved.solutions) - shown:,} more (--all lists them)")
    console.print("  holes are named as written (?k: k) or by line:column (?)")
