"""The `archlang` command.

    archlang check SPEC [-n NAME] [--json | --emit ir | --format markdown|latex|csv [--columns LIST]]
                   [--max-nodes N] [--max-tokens N] [--count CONVENTION] [--by-op]
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

This module is the program: the command line's parser, exit statuses and error printing. Each
command's arguments and handler live in the module that COMMANDS names for it (check_cli.py:
check, explain, solve, sizes, list; compile_cli.py: compile, bench; render_cli.py, ...).
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
from .extras import MissingExtra

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
    for name, where in COMMANDS.items():
        if command in (None, name):
            module, _, function = where.partition(":")
            getattr(importlib.import_module(f".{module}", __package__), function or "add_command")(sub)
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


# Each command is declared by its own module, imported only when that command runs (or --help
# lists them all): "module" calls the module's add_command(sub); "module:function", that
# function, where one module declares several commands.
COMMANDS = {  # in the order --help lists them
    "check": "check_cli:add_check", "explain": "check_cli:add_explain", "solve": "check_cli:add_solve",
    "sizes": "check_cli:add_sizes", "compile": "compile_cli:add_compile", "render": "render_cli",
    "bench": "compile_cli:add_bench", "list": "check_cli:add_list", "fmt": "formatter", "diff": "compare",
    "import": "importer_cli", "serve": "serve.cli", "lsp": "lsp.cli",
}


# What a QUICK command read and analysed, kept while `run` has the process end with os._exit:
# freed one object at a time, a 70,000-layer network takes 0.12 s, after its output is written
# (None: not ending so, as when tests call `main`)
_kept: list | None = None


def _networks(args, solve_unique: bool = False) -> list:
    """The analysed networks SPEC and -n name. With `solve_unique` (check), a network with
    holes is analysed with their values where exactly one assignment meets its constraints
    (`solved` on the network); elsewhere a hole is an error that says to run solve."""
    program, names = _program(args)
    networks = [program.network(name, solve=solve_unique) for name in names]
    if _kept is not None:
        _kept.append((program, networks))
    return networks


def _program(args):
    """The program SPEC names, and the names of the networks to work on."""
    from .lower import Limits
    from .program import load, parse
    from .reading import read_stream

    raised = {name: getattr(args, name, None) for name in ("max_nodes", "max_tokens")}
    raised = {name: value for name, value in raised.items() if value is not None}
    limits = Limits(**raised) if raised else None
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


# commands that read specs and write text or drawings, and end: torch, ONNX and the servers'
# commands (compile, import, bench, serve, lsp) keep Python's ordinary settings
QUICK = ("check", "explain", "solve", "sizes", "list", "render", "fmt", "diff")


def run() -> None:
    """The `archlang` program (the console script, and `python -m archlang`): `main`, and for
    the QUICK commands the settings of a process that ends when its command does. Python's
    cyclic garbage collector is off (a check allocates half a million objects and frees them
    at exit: the collector found nothing to collect in them, 4 ms of a 150 ms check), and the
    process ends with `os._exit` once the output is flushed, instead of freeing every object
    one by one (14 ms; the networks analysed are kept to the end for it, `_kept`), unless
    something with work for exit was loaded (torch, ONNX Runtime, multiprocessing: a
    convention of `check --count` may load torch)."""
    global _kept
    argv = sys.argv[1:]
    quick = bool(argv) and argv[0] in QUICK
    if quick:
        gc.disable()
        _kept = []
    code = main(argv)
    if quick and not {"torch", "onnxruntime", "multiprocessing"} & sys.modules.keys():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):  # a closed pipe: main has said so already
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    import archlang.cli  # the package's module, whose UsageError the command modules raise

    archlang.cli.run()
