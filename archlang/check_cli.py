"""`archlang check`, `explain`, `solve`, `sizes` and `list`: the commands that analyse specs
(shapes, parameters, MACs, receptive fields, memory, costs under a convention, holes, valid
input sizes) and print what they find as tables, text or JSON. Each `add_*` declares one
command's arguments for archlang/cli.py, which names it in its COMMANDS table and imports this
module only when one of these commands runs (or --help lists them). The analyses are imported
inside the handlers, each by the commands that use it: a plain check loads no cost model.
"""

from __future__ import annotations

from . import json_text
from .cli import EXIT_OK, UsageError, _input_files, _networks, _positive, _print_stdout, _program, _spec_arguments

__all__ = ["add_check", "add_explain", "add_solve", "add_sizes", "add_list"]


def add_check(sub) -> None:
    check = sub.add_parser(
        "check",
        help="parse, type-check and analyse a spec: shapes, parameters, MACs, receptive fields",
        description="Print a per-layer table (or JSON) with output shapes, parameters, MACs and receptive fields.",
    )
    _spec_arguments(check, "the network to check (default: every network in SPEC)")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--emit", choices=("table", "ir"), default="table",
                       help="ir: print the lowered graph, one node per line (name = op{arguments}(inputs) : type)")
    check.add_argument("--max-nodes", type=_positive, metavar="N", help="raise the limit on layers per network (default 100000)")
    check.add_argument("--max-tokens", type=_positive, metavar="N", help="raise the limit on tokens per file (default 210000)")
    check.add_argument("--format", choices=("table", "markdown", "latex", "csv"), default="table",
                       help="the per-layer table for documents: markdown (GitHub), latex (booktabs), csv (raw "
                       "integers); table: the terminal's (default)")
    check.add_argument("--columns", metavar="LIST",
                       help="--format: the columns, in order: layer,op,output,params,macs,rf,jump (and count, "
                       "output_bytes, kept_bytes with --count, --memory)")
    check.add_argument("--count", metavar="CONVENTION",
                       help="add each layer's work under a named convention: macs (the MACs column), flops (2 x MACs, "
                       "torch's FlopCounterMode), fvcore, ptflops, thop (what those tools print), all (every "
                       "arithmetic operation); docs/costs.md says what each counts")
    check.add_argument("--by-op", action="store_true",
                       help="a table per kind of layer: every convention side by side (with --count: that convention, "
                       "grouped as its tool sees the module)")
    check.add_argument("--memory", action="store_true",
                       help="add activation sizes per layer, and the weights, inference peak and one training step")
    check.add_argument("--batch", type=_positive, default=1, metavar="B", help="--memory: batch size (default 1)")
    check.add_argument("--dtype", default="float32", metavar="DTYPE",
                       help="--memory: float32 (default), float16 or bfloat16")
    check.add_argument("--optimizer", default="sgd", metavar="OPT",
                       help="--memory: sgd (with momentum, default) or adam, whose state a training step holds")
    check.set_defaults(run=_check)


def add_explain(sub) -> None:
    expl = sub.add_parser(
        "explain",
        help="explain every layer's shape, channels, parameters, MACs and receptive field, with the numbers",
        description="For each layer (or one, --layer), its rules in plain words with the numbers filled in: the "
        "shape rule, what the channels are, the parameter and MAC formulas, the receptive-field recurrence and, "
        "where branches meet, which layers meet and the residual's shortcut.",
    )
    _spec_arguments(expl, "the network to explain (default: every network in SPEC)")
    expl.add_argument("--layer", metavar="NAME", help="one layer, named as `archlang check` prints it (conv1, "
                      "bottleneck2.cbn1.conv1)")
    expl.add_argument("--json", action="store_true", help="print JSON instead of text")
    expl.set_defaults(run=_explain)


def add_solve(sub) -> None:
    sol = sub.add_parser(
        "solve",
        help="find the values of a network's holes (?) that meet its assertions, output shape and budgets",
        description="Every assignment of the holes (?, ?name) of a network that meets every layer's rules, its "
        "shape assertions, its output declaration and its budgets, ranked by the field's conventions (stride 1 "
        "first, then smaller padding, odd and smaller kernels; widths and repeats larger first). Holes range over "
        "documented domains: kernels up to the input size + 2, strides and dilations up to it, padding up to "
        "the dilated kernel - 1, widths up to --max-width, repeats up to --max-repeat.",
    )
    _spec_arguments(sol, "the network to solve (required when SPEC has several)")
    sol.add_argument("--all", action="store_true", help="list every solution found, not the first 10")
    sol.add_argument("--limit", type=_positive, default=1_000, metavar="N",
                     help="stop after N solutions (default 1000; the count then says 'at least')")
    sol.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sol.add_argument("-o", "--output", metavar="FILE", help="write the spec with the first solution filled in")
    sol.add_argument("--max-width", type=_positive, default=1024, metavar="N",
                     help="the largest channel count or width a hole may take (default 1024)")
    sol.add_argument("--max-repeat", type=_positive, default=16, metavar="N",
                     help="the largest repeat count a hole may take (default 16)")
    sol.set_defaults(run=_solve)


def add_sizes(sub) -> None:
    siz = sub.add_parser(
        "sizes",
        help="the input sizes (1 to --max) at which a network is valid, per spatial axis",
        description="For each spatial axis a, the sizes s from 1 to --max at which the network lowers without "
        "error and every assertion and output declaration holds, with axis a at s and every other spatial axis "
        "at the header's size, or at s where the header writes ? (a 3x?x? network is swept on square inputs; "
        "with several inputs, axis a of each takes s). Budgets are not checked. Printed as arithmetic "
        "progressions, with the smallest valid size and, for invalid sizes just below valid ones, the first "
        "layer that fails.",
    )
    _spec_arguments(siz, "the network to sweep (default: every network in SPEC)")
    siz.add_argument("--max", type=_positive, default=4096, metavar="N", help="the largest size tried (default 4096)")
    siz.add_argument("--json", action="store_true", help='print {"network", "max", "axes": [{"valid", "summary", '
                     '"smallest"}]} instead of text')
    siz.set_defaults(run=_sizes)


def add_list(sub) -> None:
    listing = sub.add_parser(
        "list",
        help="list the bundled networks with their parameters and MACs",
        description="List the bundled networks (usable as SPEC by name) with their sizes.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_list)


def _check(args) -> int:
    conv = memory = None
    costs = (args.count, args.by_op, args.memory, args.columns, args.format, args.batch, args.dtype, args.optimizer) != (
        None, False, False, None, "table", 1, "float32", "sgd")
    if costs:  # the plain check imports none of it
        from .cost_report import cost_options, document_tables, with_costs

        conv, memory = cost_options(args)
    networks = _networks(args, solve_unique=True)
    if args.emit == "ir":
        _print_stdout("\n".join(net.graph.text() for net in networks).rstrip("\n"))
        return EXIT_OK
    if args.format != "table":
        _print_stdout(document_tables(networks, args, conv, memory).rstrip("\n"))
        return EXIT_OK
    if args.json:
        data = [_with_solved(n.to_dict(written=not costs), n) for n in networks]  # (the costs add to each row)
        if costs:
            data = [with_costs(d, n, args, conv, memory) for d, n in zip(data, networks)]
        _print_stdout(json_text.dumps(data[0] if len(data) == 1 else data))
        return EXIT_OK
    from .report import print_summary

    for net in networks:
        if getattr(net, "solved", None):
            _print_stdout(f"{net.name}: its holes have one solution: "
                          + ", ".join(f"{h.label} ({h.argument}) = {v}" for h, v in net.solved))
        if args.by_op:
            from .cost_report import by_op_lines

            _print_stdout("\n".join(by_op_lines(net, conv)))
            continue
        extra, notes = (), ()
        if conv is not None:
            from .cost_report import count_column, count_note

            # `macs` is the MACs column already: its total line says which convention that is
            extra = () if conv.name == "macs" else (count_column(net, conv),)
            notes = (count_note(net, conv),)
        if memory is not None:
            from .cost_report import memory_columns, memory_notes

            report = memory(net)
            extra, notes = (*extra, *memory_columns(net, report)), (*notes, *memory_notes(net, report))
        print_summary(net, extra=extra, notes=notes)
    return EXIT_OK


def _with_solved(data: dict, net) -> dict:
    if getattr(net, "solved", None):
        data["solved_holes"] = {h.label: v for h, v in net.solved}
    return data


def _solve(args) -> int:
    from .solver import Domains, solve

    program, names = _program(args)
    if len(names) != 1:
        raise UsageError(f"{args.spec} defines {len(names)} networks; choose one with -n")
    if args.output:
        from .output import OutputError, check_output

        try:
            check_output(args.output, inputs=_input_files(args), writes_spec=True)
        except OutputError as err:
            raise UsageError(str(err)) from None
    solved = solve(program, names[0], args.limit, Domains(args.max_width, args.max_repeat))
    if args.output:
        from .output import write_atomic
        from .solver import filled_text

        write_atomic(args.output, filled_text(program, solved, solved.solutions[0]).encode("utf-8"),
                     inputs=_input_files(args), writes_spec=True)
    if args.json:
        _print_stdout(json_text.dumps(solved.as_json()))
        return EXIT_OK
    from .report import print_solutions

    print_solutions(program, solved, shown=None if args.all else 10)
    if args.output:
        _print_stdout(f"wrote {args.output} (the first solution filled in)")
    return EXIT_OK


def _explain(args) -> int:
    from .explain import UnknownLayer, explain, print_explanation, to_dict

    networks = _networks(args)
    if args.layer is not None and len(networks) != 1:
        raise UsageError(f"{args.spec} defines {len(networks)} networks; choose one with -n for --layer")
    try:
        results = [(net, explain(net, args.layer)) for net in networks]
    except UnknownLayer as err:
        raise UsageError(str(err)) from None
    if args.json:
        data = [to_dict(net, exps) for net, exps in results]
        _print_stdout(json_text.dumps(data[0] if len(data) == 1 else data))
        return EXIT_OK
    for net, exps in results:
        print_explanation(net, exps)
    return EXIT_OK


def _sizes(args) -> int:
    from .sizes import sizes
    from .sizes_report import print_sizes

    program, names = _program(args)
    results = [sizes(program, name, args.max) for name in names]
    if args.json:
        data = [r.to_dict() for r in results]
        _print_stdout(json_text.dumps(data[0] if len(data) == 1 else data))
        return EXIT_OK
    for result in results:
        print_sizes(result)
    return EXIT_OK


def _list(args) -> int:
    from .program import bundled_networks, load

    programs = {path: load(path) for path in sorted(set(bundled_networks().values()))}  # each file parsed once
    networks = [programs[path].network(name) for name, path in bundled_networks().items()]
    if args.json:
        _print_stdout(json_text.dumps([
            {"network": n.name, "spec": bundled_networks()[n.name].name, **n.io_dict(),
             "total_params": n.total_params, "total_macs": n.total_macs, "layers": n.layer_count}
            for n in networks
        ]))
        return EXIT_OK
    from .report import print_listing

    print_listing(networks, {name: path.name for name, path in bundled_networks().items()})
    return EXIT_OK
