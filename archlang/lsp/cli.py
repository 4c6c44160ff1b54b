"""`archlang lsp`: the language server over standard input and output.

    archlang lsp            what editors start (`--stdio` is accepted: clients add it)
    python -m archlang.lsp  the same, without the `archlang` script

`add_command` registers the subcommand on archlang's argument parser without importing
pygls; running it needs the `lsp` extra (pip install 'archlang[lsp]').
"""

from __future__ import annotations

import argparse

__all__ = ["add_command", "run", "main"]

DESCRIPTION = (
    "Speak the Language Server Protocol over standard input and output, for editors: diagnostics as you "
    "type (every network checked on its own), hovers with each layer's output shape, parameters, MACs and "
    "receptive field, completion of layers, blocks and keyword arguments, go to definition, references, "
    "symbols, formatting (archlang fmt) and inlay hints with the shape at the end of each line of a chain. "
    "Files named by `use` are read only inside the workspace folders. Editors start it with no arguments."
)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="talk over standard input and output (the default and only transport; clients add it)")


def add_command(sub) -> None:
    cmd = sub.add_parser("lsp", help="run the language server (LSP over stdio) that editors start",
                         description=DESCRIPTION)
    _arguments(cmd)
    cmd.set_defaults(run=run, json=False)


def run(args) -> int:
    from ..extras import require

    require("pygls", job="archlang lsp")  # names the extra, archlang[lsp], in one line where it is missing
    from .server import main as serve

    return serve()


def main(argv=None) -> int:
    """`python -m archlang.lsp`."""
    import sys

    from ..errors import ArchError

    parser = argparse.ArgumentParser(prog="python -m archlang.lsp", description=DESCRIPTION)
    _arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ArchError as err:
        print(f"archlang: error: {err.message}", file=sys.stderr)
        return 2
