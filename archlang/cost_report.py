"""What `archlang check --count C`, `--by-op` and `--memory` add to the table and the JSON.

The figures come from analysis/counting.py (a network's work under a named convention) and
analysis/memory.py (activation sizes, weights, inference peak, one training step); this module
only lays them out: a column per layer and a total line for the table, keys for the JSON, and
the per-op-type breakdown that shows where the tools' figures part.
"""

from __future__ import annotations

from .analysis.counting import Convention, by_op, conventions, layer_counts
from .errors import LimitError
from .network import Network
from .units import bytes_text, si

__all__ = ["cost_options", "document_tables", "with_costs", "INT64_MAX", "count_column", "count_note", "count_json", "by_op_lines", "by_op_json", "memory_report", "count_table_column", "memory_table_columns",
           "memory_columns", "memory_notes", "memory_json"]

INT64_MAX = 2**63 - 1

def _fits(net: Network, what: str, value: int) -> int:
    """`value`, or a LimitError at the network's header where it does not fit a signed 64-bit
    integer (as JSON readers, numpy and torch hold counts): said, never wrapped."""
    if value > INT64_MAX:
        raise LimitError(
            f"{net.name}: its {what} ({value:,}, about {value:.2e}) does not fit in 64 bits",
            net.graph.span,
            hint="the figure is exact, but no 64-bit integer (JSON readers, numpy, torch) holds it; try a "
                 "smaller input size or batch",
        )
    return value


def _label(conv: Convention) -> str:
    return f"{conv.name} ({conv.unit})" if conv.name != conv.unit.lower() else conv.unit


def count_column(net: Network, conv: Convention):
    from .report import Column  # rich: the table's, not JSON's

    counts = layer_counts(net.graph, conv)
    total = _fits(net, f"work counted as '{conv.name}'", sum(counts.values()))
    return Column(_label(conv), tuple(f"{counts[i.name]:,}" if counts[i.name] else "-" for i in net.layers),
                  f"{total:,}")


def count_table_column(net: Network, conv: Convention):
    """The count as a `--format` table's column (raw integers; key "count")."""
    from .tables import TableColumn

    counts = layer_counts(net.graph, conv)
    total = _fits(net, f"work counted as '{conv.name}'", sum(counts.values()))
    return TableColumn("count", _label(conv), True, tuple(counts[i.name] or None for i in net.layers), total)


def count_note(net: Network, conv: Convention) -> str:
    """The total line: the figure, in every unit a reader expects, and what it counts."""
    total = _fits(net, f"work counted as '{conv.name}'", sum(layer_counts(net.graph, conv).values()))
    units = si(total, '.2f', ' ', conv.unit)
    if conv.unit == "MACs":
        units += f" = {si(2 * total, '.2f', ' ', 'FLOPs')}"
    elif conv.name == "flops":  # exactly 2 x MACs
        units += f" = {si(total // 2, '.2f', ' ', 'MACs')}"
    tool = f" as {conv.tool} {conv.version} counts" if conv.tool and conv.version else ""
    return f"{conv.name}  {total:,} ({units}{tool}): {conv.summary}"


def count_json(net: Network, conv: Convention, data: dict) -> dict:
    """`data` (the network's JSON) with "count": {"convention", "unit", "total"} on the
    network and "count" on each layer; total_macs stays as it is."""
    counts = layer_counts(net.graph, conv)
    data["count"] = {"convention": conv.name, "unit": conv.unit,
                     "total": _fits(net, f"work counted as '{conv.name}'", sum(counts.values()))}
    for layer in data["layers"]:
        layer["count"] = counts[layer["name"]]
    return data


def by_op_rows(net: Network, conv: Convention | None) -> tuple[list[str], list[tuple]]:
    """(headers, rows): with a convention, its groups (what its tool sees, e.g. torch module
    classes) with layers and counts, beside the MACs; without, one row per op with every
    convention side by side."""
    graph = net.graph
    if conv is not None:
        groups = by_op(graph, conv)
        macs_of: dict[str, int] = {}
        for n in graph.layers:
            key = conv.group_of(n.op, graph.input_types(n))
            macs_of[key] = macs_of.get(key, 0) + n.op.macs(graph.input_types(n), n.type)
        rows = [(key, layers, count, macs_of[key]) for key, (layers, count) in groups.items()]
        return ["Kind", "Layers", _label(conv), "MACs"], rows
    convs = conventions()
    table: dict[str, list[int]] = {}
    for n in graph.layers:
        inputs = graph.input_types(n)
        entry = table.setdefault(n.op.name, [0] + [0] * len(convs))
        entry[0] += 1
        for i, c in enumerate(convs, 1):
            entry[i] += c.count(n.op, inputs, n.type)
    return ["Op", "Layers", *(c.name for c in convs)], [(k, *v) for k, v in table.items()]


def by_op_lines(net: Network, conv: Convention | None) -> list[str]:
    """`--by-op` as a plain table with its totals."""
    headers, rows = by_op_rows(net, conv)
    totals = ["Total", *(sum(r[i] for r in rows) for i in range(1, len(headers)))]
    for value in totals[2:]:
        _fits(net, "work", value)
    cells = [headers] + [[str(r[0]), *(f"{v:,}" if v else "-" for v in r[1:])] for r in rows] + [
        [str(totals[0]), *(f"{v:,}" for v in totals[1:])]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row) -> str:
        return "  " + "   ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    what = (f"{conv.name}: {conv.summary}" if conv else
            "every convention side by side (docs/costs.md says what each counts)")
    out = [f"{net.name} by kind of layer: {what}", "", line(cells[0]), "  " + "-" * (sum(widths) + 3 * (len(widths) - 1))]
    out += [line(row) for row in cells[1:-1]]
    out += ["", line(cells[-1]), ""]
    return out


def by_op_json(net: Network, conv: Convention | None) -> list[dict]:
    headers, rows = by_op_rows(net, conv)
    keys = ["kind" if conv else "op", "layers", *(conv.name if conv and h == _label(conv) else h.lower()
                                                  for h in headers[2:])]
    return [dict(zip(keys, row)) for row in rows]


# -- memory

def memory_report(net: Network, batch: int, dtype: str, optimizer: str):
    """analysis.memory's report, or a LimitError at the network's header where a figure does
    not fit in 64 bits."""
    from .analysis.memory import EstimateOverflow, memory

    try:
        return memory(net.graph, batch=batch, dtype=dtype, optimizer=optimizer)
    except EstimateOverflow as err:
        raise LimitError(str(err), net.graph.span,
                         hint="the figure is exact, but no 64-bit integer holds it; try a smaller input size or "
                              "batch") from None


def memory_columns(net: Network, report):
    """Each layer's output, and what its backward keeps in a training step that no earlier
    layer keeps already, at the report's batch and dtype (two report.Column)."""
    from .report import Column
    def cells(sizes) -> tuple[str, ...]:
        return tuple(bytes_text(sizes.get(i.name, 0)) if sizes.get(i.name, 0) else "-" for i in net.layers)

    return (Column(f"Output (b{report.batch})", cells(report.activations)),
            Column("Kept for backward", cells(report.saved), bytes_text(report.saved_for_backward)))


def memory_table_columns(net: Network, report):
    """Each layer's output and what it keeps for backward, in bytes, as `--format` columns."""
    from .tables import TableColumn

    def values(sizes) -> tuple:
        return tuple(sizes.get(i.name, 0) or None for i in net.layers)

    return (TableColumn("output_bytes", f"Output bytes (b{report.batch})", True, values(report.activations)),
            TableColumn("kept_bytes", "Kept for backward", True, values(report.saved), report.saved_for_backward))


def memory_notes(net: Network, report) -> tuple[str, ...]:
    """The totals, each with what it is made of: weights, inference peak, training step."""
    pad = " " * 8
    return (
        f"memory  at batch {report.batch}, {report.dtype} (weights too)",
        f"{pad}weights         {bytes_text(report.weights):>9}  ({report.weights:,} bytes: parameters "
        f"{bytes_text(report.parameters)}, buffers {bytes_text(report.buffers)})",
        f"{pad}inference peak  {bytes_text(report.inference_peak):>9}  (weights + the activations alive at once at "
        f"{report.peak_at}, the largest set in the forward)",
        f"{pad}training step   {bytes_text(report.training_step):>9}  (weights + gradients "
        f"{bytes_text(report.gradients)} + {report.optimizer} state {bytes_text(report.optimizer_state)} + "
        f"activations {bytes_text(report.training_activations)}: the input, what the layers keep for backward "
        f"{bytes_text(report.saved_for_backward)}, the output)",
    )


def memory_json(net: Network, report, data: dict) -> dict:
    data["memory"] = report.to_dict()
    for layer in data["layers"]:
        layer["activation_bytes"] = report.activations[layer["name"]]
    return data


# -- the check command's options (cli.py calls these)

def document_tables(networks, args, conv, memory) -> str:
    """`check --format markdown|latex|csv`: each network's table (a heading between them)."""
    from .cli import UsageError
    from .tables import UnknownColumn, choose, columns_of, render_table

    if args.format == "csv" and len(networks) > 1:
        raise UsageError(f"{args.spec} defines {len(networks)} networks; a CSV table holds one: choose it with -n")
    keys = [k.strip() for k in args.columns.split(",") if k.strip()] if args.columns else None
    out = []
    for net in networks:
        extra = []
        if conv is not None:
            extra.append(count_table_column(net, conv))
        if memory is not None:
            extra += memory_table_columns(net, memory(net))
        try:
            columns = choose(columns_of(net, tuple(extra)), keys)
        except UnknownColumn as err:
            raise UsageError(str(err)) from None
        if len(networks) > 1 and args.format == "markdown":
            out.append(f"**{net.name}** `{net.graph.signature}`\n")
        out.append(render_table(net, args.format, columns))
    return "\n".join(out)


def cost_options(args):
    """(the --count convention or None, a function from a graph to its memory report or
    None), checked before any spec is read: an unknown name lists the known ones."""
    from .cli import UsageError

    conv = memory = None
    if args.count is not None:
        from .analysis.counting import UnknownConvention, convention

        try:
            conv = convention(args.count)
        except UnknownConvention as err:
            raise UsageError(str(err)) from None
    given = [f"--{k}" for k in ("batch", "dtype", "optimizer")
             if getattr(args, k) != {"batch": 1, "dtype": "float32", "optimizer": "sgd"}[k]]
    if given and not args.memory:
        raise UsageError(f"{' and '.join(given)} only {'means' if len(given) == 1 else 'mean'} something with "
                         "--memory (the memory estimate's batch, dtype and optimizer)")
    if args.memory:
        from .analysis.memory import MemoryEstimateError, check_options

        try:
            check_options(args.batch, args.dtype, args.optimizer)
        except MemoryEstimateError as err:
            raise UsageError(str(err)) from None
        memory = lambda net: memory_report(net, args.batch, args.dtype, args.optimizer)
    if args.columns and args.format == "table":
        raise UsageError("--columns chooses the columns of --format markdown, latex or csv")
    if args.format != "table" and (args.json or args.by_op or args.emit != "table"):
        raise UsageError("--format writes the per-layer table; leave out --json, --by-op and --emit")
    if args.by_op and args.memory:
        raise UsageError("--by-op prints a table of counts; leave out --memory, or --by-op")
    return conv, memory


def with_costs(data: dict, net, args, conv, memory) -> dict:
    """The network's JSON with what --count, --by-op and --memory add."""

    if conv is not None:
        count_json(net, conv, data)
    if args.by_op:
        data["by_op"] = by_op_json(net, conv)
    if memory is not None:
        memory_json(net, memory(net), data)
    return data
