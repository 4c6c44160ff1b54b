"""Terminal reports with rich: the per-layer table of `archlang check`."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table

from .program import Network

__all__ = ["summary_table", "print_summary", "human"]

_FAMILY_STYLE = {
    "conv": "cyan",
    "pool": "green",
    "norm": "magenta",
    "activation": "yellow",
    "fc": "blue",
    "merge": "red",
}


def human(n: int) -> str:
    """1234567 -> '1.23 M' (SI prefixes, as MAC and parameter totals are quoted)."""
    for value, prefix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= value:
            return f"{n / value:.2f} {prefix}"
    return str(n)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _axes(values) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in values)


def summary_table(net: Network) -> Table:
    table = Table(
        title=f"[bold]{net.name}[/]  {_shape(net.input_shape)} -> {_shape(net.output_shape)}",
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
            f"[{_FAMILY_STYLE.get(info.family, 'default')}]{info.op}[/]",
            _shape(info.output_shape),
            f"{info.params:,}" if info.params else "-",
            f"{info.macs:,}" if info.macs else "-",
            _axes(rf.size) if rf else "global" if spatial_input else "-",
            _axes(rf.jump) if rf else "",
        )
    return table


def print_summary(net: Network, console: Console | None = None) -> None:
    table = summary_table(net)
    if console is None:
        # never squeeze the table into a narrow terminal or a pipe: rows would break mid-name
        needed = Console(file=io.StringIO(), width=1000).measure(table).maximum
        console = Console()
        console.width = max(console.width, needed)
    console.print(table)
    size_mib = net.total_params * 4 / 2**20
    console.print(
        f"  params  {net.total_params:,} ({human(net.total_params)}; {size_mib:,.1f} MiB as float32)\n"
        f"  MACs    {net.total_macs:,} ({human(net.total_macs)})\n"
        f"  layers  {len(net.layers)}\n",
        highlight=False,
    )
