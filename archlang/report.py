"""Terminal reports with rich: the per-layer table of `archlang check`."""

from __future__ import annotations

import io
import re

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .ir import compact
from .program import Network

__all__ = ["summary_table", "print_summary", "print_listing", "human"]

def human(n: int, digits: int = 2) -> str:
    """1234567 -> '1.23 M' (SI prefixes, as MAC and parameter totals are quoted)."""
    for value, prefix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= value:
            return f"{n / value:.{digits}f} {prefix}"
    return str(n)


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


def summary_table(net: Network) -> Table:
    table = Table(
        title=f"[bold]{net.name}[/]  {net.input_type} -> {net.output_type}",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        show_footer=True,
    )
    table.add_column("Layer", footer="Total", no_wrap=True)
    table.add_column("Op", no_wrap=True)
    table.add_column("Output", justify="right", no_wrap=True)
    table.add_column("Params", justify="right", footer=f"{net.total_params:,}", no_wrap=True)
    table.add_column("MACs", justify="right", footer=f"{net.total_macs:,}", no_wrap=True)
    table.add_column("RF", justify="right", no_wrap=True)
    table.add_column("Jump", justify="right", no_wrap=True)
    spatial_input = len(net.input_shape) > 1
    for info in net.layers:
        rf = info.receptive_field
        table.add_row(
            info.name,
            f"[{info.family.style}]{escape(info.op)}[/]",
            str(info.node.type),
            f"{info.params:,}" if info.params else "-",
            f"{info.macs:,}" if info.macs else "-",
            compact(rf.size) if rf else "global" if spatial_input else "-",
            compact(rf.jump) if rf else "",
        )
    return table


def print_summary(net: Network, console: Console | None = None) -> None:
    console = _print_wide(summary_table(net), console)
    size_mib = net.total_params * 4 / 2**20
    console.print(
        f"  params  {net.total_params:,} ({human(net.total_params)}; {size_mib:,.1f} MiB as float32)\n"
        f"  MACs    {net.total_macs:,} ({human(net.total_macs)})\n"
        f"  layers  {len(net.layers)}\n",
        highlight=False,
    )


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
            net.name, specs[net.name], str(net.input_type), str(net.output_type),
            f"{net.total_params:,}", human(net.total_macs, 3), str(len(net.layers)),
        )
    _print_wide(table, console)
