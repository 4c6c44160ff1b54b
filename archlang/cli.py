"""The `archlang` command.

    archlang check SPEC [-n NAME] [--json | --emit ir | --format markdown|latex|csv [--columns LIST]]
                   [--max-nodes N] [--count CONVENTION] [--by-op]
                   [--memory [--batch B] [--dtype float32|float16|bfloat16] [--optimizer sgd|adam]]
    archlang explain SPEC [-n NAME] [--layer NAME] [--json]
    archlang solve SPEC [-n NAME] [--all] [--limit N] [--json] [-o filled.arch] [--max-width N] [--max-repeat N]
    archlang sizes SPEC [-n NAME] [--max N] [--json]
    archlang compile SPEC [-n NAME] -o model.py|model.pt2|model.onnx [--seed S]
    archlang render SPEC [-n NAME] -o out.svg|png|pdf|dot|tex [--collapse] [--fold] [--rankdir TB|LR]
                    [--show params,macs,flops,mem,rf] [--theme default|paper|slides] [--dpi N]
                    [--width LEN] [--height LEN] [--tikz-body]
    archlang bench SPEC [-n NAME] [--batch B] [--runs R] [--threads T] [--compile]
    archlang list [--json]
    archlang fmt SPEC... [--check] [--diff]
    archlang diff A [B] [-n NAME] [--json] [-o diff.svg]
    archlang import MODEL -o out.arch [--name NAME] [--input-shape 3x224x224] [--weights x.pt]
    archlang serve [SPEC] [-n NAME] [--port 8000] [--host 127.0.0.1] [--timeout S] [--workers N] [--open]
    archlang lsp [--stdio]

SPEC is a .arch path, the name of a bundled network, or - for standard input. Exit status:
0 valid, 1 spec error (including a network too large for this machine's memory), 2 usage
error, 3 internal error (a bug in archlang: one line on stderr asks for a report; set
ARCHLANG_DEBUG=1 for the traceback), 130 Ctrl-C, 143 SIGTERM. Errors go to stderr; with
--json, stdout carries {"errors": [...]} instead. A closed stdout (`archlang check x | head -1`)
ends the command quietly with status 0. `check` and `compile -o x.py` never import torch,
ONNX or Graphviz; a command whose optional dependency is missing names the extra to install.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import shlex
import sys
from typing import Sequence

from . import json_text
from .errors import ArchError
from .extras import MissingExtra, require

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """A problem with the command line rather than with a spec (exit status 2)."""


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1 (0 and negative counts mean nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed accepts


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}")
    return value


def _spec_arguments(parser: argparse.ArgumentParser, network_help: str) -> None:
    parser.add_argument("spec", metavar="SPEC", help="a .arch file, a bundled network such as resnet50, or - for stdin")
    parser.add_argument("-n", "--network", metavar="NAME", help=network_help)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line. With `command` (the first word of argv, a known command) only that
    command's arguments are declared: argparse formats every declared option as it is added, and
    the other twelve commands took 10 ms of every run."""
    from . import __version__

    parser = _ArgumentParser(
        prog="archlang",
        description="Check, draw and compile neural-network architectures written in .arch specs.",
    )
    parser.add_argument("--version", action="version", version=f"archlang {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, add in COMMANDS.items():
        if command in (None, name):
            if isinstance(add, str):  # a command its own module declares
                add = importlib.import_module(f".{add}", __package__).add_command
            add(sub)
    return parser


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, told the terminal's width: without it, argparse imports shutil
    (6 ms) in every run to ask."""

    def __init__(self, prog: str, **kwargs) -> None:
        try:
            columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (ValueError, OSError, AttributeError):
            columns = 80
        super().__init__(prog, width=kwargs.pop("width", None) or columns - 2, **kwargs)


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser (its commands' too) with that help layout."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, formatter_class=kwargs.pop("formatter_class", _Formatter), **kwargs)


def _add_check(sub) -> None:
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


def _add_explain(sub) -> None:
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


def _add_solve(sub) -> None:
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


def _add_sizes(sub) -> None:
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


def _add_compile(sub) -> None:
    comp = sub.add_parser(
        "compile",
        help="compile a spec to PyTorch source (.py), a torch.export program (.pt2) or ONNX (.onnx)",
        description="Compile networks. The output's suffix picks the target: .py writes one nn.Module class "
        "per network, importing only torch; .pt2 writes a torch.export program and .onnx an ONNX model "
        "(one network, dynamic batch; weights from --seed: .pt2 as archlang.build makes them, .onnx drawn by "
        "the same rules with numpy, default seed 0, so no torch is needed; above 2 GiB the weights go to a "
        "MODEL.onnx.data file beside it).",
    )
    _spec_arguments(comp, "the network to compile (default: every network in SPEC)")
    comp.add_argument("-o", "--output", metavar="OUT", required=True, help="the output file: model.py, model.pt2 or model.onnx")
    comp.add_argument("--seed", type=_seed, metavar="S", help="seed for the weights of .pt2 and .onnx outputs")
    comp.add_argument("--max-nodes", type=_positive, metavar="N", help=argparse.SUPPRESS)
    comp.set_defaults(run=_compile, json=False)


def _add_bench(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="time a network in PyTorch eager, torch.compile and ONNX Runtime on this machine",
        description="Measure latency (median and p90), throughput and speed-ups of PyTorch eager, optionally "
        "torch.compile, and ONNX Runtime (CPUExecutionProvider), interleaved round by round.",
    )
    _spec_arguments(bench, "the network (needed when SPEC defines several)")
    bench.add_argument("--batch", type=_positive, default=1, metavar="B", help="batch size (default 1)")
    bench.add_argument("--runs", type=_positive, default=20, metavar="R", help="timed rounds (default 20)")
    bench.add_argument("--threads", type=_positive, metavar="T", help="threads for both runtimes (default: torch's)")
    bench.add_argument("--compile", action="store_true", help="also time torch.compile")
    bench.set_defaults(run=_bench, json=False)


def _add_list(sub) -> None:
    listing = sub.add_parser(
        "list",
        help="list the bundled networks with their parameters and MACs",
        description="List the bundled networks (usable as SPEC by name) with their sizes.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_list)


COMMANDS = {  # in the order --help lists them
    "check": _add_check, "explain": _add_explain, "solve": _add_solve, "sizes": _add_sizes, "compile": _add_compile,
    "render": "render_cli", "bench": _add_bench, "list": _add_list, "fmt": "formatter", "diff": "compare",
    "import": "importer_cli", "serve": "serve.cli", "lsp": "lsp.cli",
}


def _networks(args, solve_unique: bool = False) -> list:
    """The analysed networks SPEC and -n name. With `solve_unique` (check), a network with
    holes is analysed with their values where exactly one assignment meets its constraints
    (`solved` on the network); elsewhere a hole is an error that says to run solve."""
    program, names = _program(args)
    return [program.network(name, solve=solve_unique) for name in names]


def _program(args):
    """The program SPEC names, and the names of the networks to work on."""
    from .lower import Limits
    from .program import load, parse
    from .reading import read_stream

    max_nodes = getattr(args, "max_nodes", None)
    limits = Limits(max_nodes=max_nodes) if max_nodes is not None else None
    try:
        if args.spec == "-":
            program = parse(read_stream(sys.stdin, "<stdin>"), "<stdin>", limits=limits)
        else:
            program = load(args.spec, limits=limits)
    except ArchError as err:
        if err.span is None:  # the SPEC argument itself is wrong
            raise UsageError(err.render().removeprefix("error: ")) from None
        raise
    if args.network:
        if args.network not in program.defs.networks:
            from .errors import suggest

            close = suggest(args.network, program.defs.networks)
            raise UsageError(
                f"no network named '{args.network}' in {args.spec}"
                + (f" (did you mean '{close}'?)" if close else "")
                + f"; networks: {', '.join(program.networks) or 'none'}"
            )
        names = [args.network]
    elif program.default:
        names = [program.default]
    else:
        names = list(program.networks)
        if not names:
            raise UsageError(f"{args.spec} defines no network (only blocks)")
    return program, names


def _input_files(args) -> list[str]:
    """The spec files a command reads, which no output may overwrite."""
    from pathlib import Path

    if args.spec == "-":
        return []
    try:
        return [args.spec] if Path(args.spec).is_file() else []
    except (OSError, ValueError):  # a path no file can have: it is reported when the spec is read
        return []


def _check_output(args, inputs: list[str]) -> None:
    """Refuse an unusable -o before anything is built (a directory, a device, a long name...)."""
    from .output import OutputError, check_output

    try:
        check_output(args.output, inputs=inputs)
    except OutputError as err:
        raise UsageError(str(err)) from None


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
        data = [_with_solved(n.to_dict(), n) for n in networks]
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
    from .sizes import print_sizes, sizes

    program, names = _program(args)
    results = [sizes(program, name, args.max) for name in names]
    if args.json:
        data = [r.to_dict() for r in results]
        _print_stdout(json_text.dumps(data[0] if len(data) == 1 else data))
        return EXIT_OK
    for result in results:
        print_sizes(result)
    return EXIT_OK


COMPILE_TARGETS = (".py", ".pt2", ".onnx")


def _compile(args) -> int:
    from pathlib import Path

    from .output import OutputError, write_atomic

    suffix = Path(args.output).suffix
    if suffix not in COMPILE_TARGETS:
        raise UsageError(f"cannot compile to '{suffix or args.output}'; outputs: " + ", ".join(COMPILE_TARGETS))
    if suffix == ".pt2":
        require("torch", job="compiling to .pt2")
    elif suffix == ".onnx":
        require("onnx", "numpy", job="compiling to .onnx")
    inputs = _input_files(args)
    _check_output(args, inputs)
    networks = _networks(args)
    if suffix != ".py" and len(networks) == 1:  # weights are built: they must fit before torch allocates them
        from .budget import check_fits, weight_bytes

        net = networks[0]
        check_fits(weight_bytes(net), f"network {net.name} ({net.total_params:,} float32 parameters)")
    written: tuple = (args.output,)
    try:
        if suffix == ".py":
            from .backends.python_source import python_source

            write_atomic(args.output, python_source([n.graph for n in networks], args.spec), inputs=inputs)
        else:
            if len(networks) != 1:
                raise UsageError(f"{args.spec} defines {len(networks)} networks; choose one with -n for {suffix}")
            if suffix == ".onnx":
                from .backends.onnx_model import export_onnx

                written = export_onnx(networks[0], args.output, seed=args.seed if args.seed is not None else 0,
                                      inputs=inputs)
            else:
                from .backends.torch_export import export_program

                write_atomic(args.output, lambda tmp: export_program(networks[0].graph, tmp, seed=args.seed), inputs=inputs)
    except OutputError as err:
        raise UsageError(str(err)) from None
    names = ", ".join(n.name for n in networks)
    if len(written) > 1:
        names += f"; its weights in {written[1]}"
    print(f"wrote {args.output} ({names})", file=sys.stderr)
    return EXIT_OK


def _bench(args) -> int:
    require("torch", "onnx", "onnxruntime", job="archlang bench")
    networks = _networks(args)
    if len(networks) != 1:
        raise UsageError(f"{args.spec} defines {len(networks)} networks; choose one with -n")
    from .benchmark import run_bench

    run_bench(networks[0], batch=args.batch, runs=args.runs, compile_=args.compile, threads=args.threads)
    return EXIT_OK


def _list(args) -> int:
    from .program import bundled_networks, load

    programs = {path: load(path) for path in sorted(set(bundled_networks().values()))}  # each file parsed once
    networks = [programs[path].network(name) for name, path in bundled_networks().items()]
    if args.json:
        _print_stdout(json_text.dumps([
            {"network": n.name, "spec": bundled_networks()[n.name].name, **n.io_dict(),
             "total_params": n.total_params, "total_macs": n.total_macs, "layers": len(n.layers)}
            for n in networks
        ]))
        return EXIT_OK
    from .report import print_listing

    print_listing(networks, {name: path.name for name, path in bundled_networks().items()})
    return EXIT_OK


def _stdout_gone() -> None:
    """Point stdout at /dev/null once its reader has gone (`archlang check x | head -1`), so
    that neither later writes nor the interpreter's flush at exit fail again (the recipe of
    Python's note on SIGPIPE in the signal module's documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (captured, or None)
        pass


def _print_stdout(text: str) -> None:
    """print() to stdout, flushed; a reader that went away is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _stdout_gone()


def _internal_error(err: Exception, argv: list[str]) -> None:
    """The last resort: one line naming the exception, one asking for a report; no traceback."""
    from . import __version__

    message = " ".join(str(err).split())
    if len(message) > 300:
        message = message[:300] + "..."
    try:
        print(f"archlang: internal error: {type(err).__name__}" + (f": {message}" if message else ""), file=sys.stderr)
        print(f"  this is a bug in archlang {__version__}; please report it with the command line "
              f"`{shlex.join(['archlang', *argv])[:1000]}` (ARCHLANG_DEBUG=1 shows the traceback)", file=sys.stderr)
    except (OSError, ValueError):  # stderr itself is gone
        pass


def _print_error(err: ArchError) -> None:
    color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    if not color:
        print(err.render(), file=sys.stderr)
        return
    styles = {"loc": "\033[1m", "error": "\033[1;31m", "note": "\033[1;36m", "caret": "\033[1;32m", "hint": "\033[1;33m"}
    out = []
    for text, style in err.segments():
        out.append(f"{styles[style]}{text}\033[0m" if style and text.strip() else text)
    print("".join(out).rstrip("\n"), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = False
    try:
        try:
            args = _parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
        except SystemExit as exit_:  # argparse: --help, --version, or a usage error
            return exit_.code if isinstance(exit_.code, int) else EXIT_OK if exit_.code is None else EXIT_USAGE
        want_json = getattr(args, "json", False)
        code = args.run(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at exit, so that a closed pipe is handled below
        return code
    except MissingExtra as err:
        print(f"archlang: error: {err.message}", file=sys.stderr)
        return EXIT_USAGE
    except ArchError as err:
        if want_json:
            _print_stdout(json_text.dumps({"errors": [err.to_dict()]}))
        _print_error(err)
        return EXIT_SPEC
    except UsageError as err:
        if want_json:
            _print_stdout(json_text.dumps({"errors": [{"file": None, "line": None, "column": None, "kind": "usage",
                                                  "message": str(err), "hint": None}]}))
        print(f"archlang: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RecursionError:
        err = ArchError("the spec nests too deeply to analyse", hint="reduce the nesting of blocks and parentheses")
        _print_error(err)
        return EXIT_SPEC
    except MemoryError:
        print("archlang: error: out of memory; the network is too large for this machine", file=sys.stderr)
        return EXIT_SPEC
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _stdout_gone()
        return EXIT_OK
    except SystemExit as exit_:
        if isinstance(exit_.__context__, BrokenPipeError):  # rich's console exits so on a closed pipe
            _stdout_gone()
            return EXIT_OK
        raise  # a signal's exit status (write_atomic turns SIGTERM into SystemExit(143))
    except Exception as err:
        if os.environ.get("ARCHLANG_DEBUG"):
            raise
        _internal_error(err, argv)
        if want_json:
            _print_stdout(json_text.dumps({"errors": [{"file": None, "line": None, "column": None, "kind": "internal",
                                                  "message": f"{type(err).__name__}: {err}", "hint": None}]}))
        return EXIT_INTERNAL


LONG_LIVED = ("serve", "lsp", "bench")  # servers, and timings that must see Python as it always runs


def run() -> None:
    """The `archlang` program (the console script, and `python -m archlang`): `main` with the
    settings of a process that ends when its command does. Python's cyclic garbage collector
    is off (a check allocates half a million objects and frees them at exit: the collector
    found nothing to collect in them, 4 ms of a 150 ms check), and the process ends with
    `os._exit` once the output is flushed, instead of freeing every object one by one (14 ms),
    where the command loaded nothing that registers work for exit (torch, ONNX Runtime,
    multiprocessing: those end the ordinary way). A server or a benchmark keeps both."""
    argv = sys.argv[1:]
    short = not (argv and argv[0] in LONG_LIVED)
    if short:
        gc.disable()
    code = main(argv)
    if short and not {"torch", "onnxruntime", "multiprocessing"} & sys.modules.keys():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):  # a closed pipe: main has said so already
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
