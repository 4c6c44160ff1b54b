"""`archlang render`: a network drawn as SVG, PNG, PDF, DOT (backends/dot.py) or TikZ
(backends/tikz.py), with the options for papers and slides (--theme, --dpi, --width/--height,
--tikz-body)."""

from __future__ import annotations

import argparse
import sys

from .extras import require

__all__ = ["add_command"]

_UNITS = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4, "pt": 1 / 72}


def _length(text: str) -> tuple[float, str]:
    """An argparse type: a length with its unit, `6in`, `16cm`, `1920px` -> (value, unit)."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(in|cm|mm|pt|px)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a length such as 6in, 16cm, 170mm, 432pt or 1920px, not '{text}'")
    value = float(m.group(1))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not '{text}'")
    return value, m.group(2)


def add_command(sub) -> None:
    """Register `render` on the command line's subparsers."""
    from .cli import _spec_arguments

    draw = sub.add_parser(
        "render",
        help="draw a network as SVG, PNG, PDF or DOT (Graphviz)",
        description="Draw a network: a node per layer with its op, edges labelled with tensor shapes, block "
        "instances as clusters. The suffix of OUT picks the format (.svg, .png, .pdf, .dot); all but .dot "
        "need Graphviz's dot.",
    )
    _spec_arguments(draw, "the network (needed when SPEC defines several)")
    draw.add_argument("-o", "--output", metavar="OUT", required=True, help="out.svg, out.png, out.pdf, out.dot or out.tex (TikZ)")
    draw.add_argument("--collapse", action="store_true", help="draw a run of repeated blocks as one node with an xN badge")
    draw.add_argument("--fold", action="store_true", help="draw conv/fc + norm + activation chains as one node")
    draw.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="top to bottom (default) or left to right")
    draw.add_argument("--theme", default="default", metavar="THEME",
                      help="default (the families' colours), paper (grayscale-safe, thin lines) or slides (large text)")
    draw.add_argument("--dpi", type=int, metavar="N", help="PNG resolution in dots per inch (default 150; 300 for print)")
    draw.add_argument("--width", type=_length, metavar="LEN",
                      help="scale the drawing to this width (6in, 16cm, 170mm, 432pt; px for PNG at its --dpi)")
    draw.add_argument("--height", type=_length, metavar="LEN", help="scale the drawing to fit this height too")
    draw.add_argument("--tikz-body", action="store_true",
                      help=".tex: write only the tikzpicture, for \\input in a document that loads TikZ")
    draw.add_argument("--show", metavar="LIST", default="", help="add figures to the nodes: params,macs,flops,mem,rf (flops: 2 x MACs; mem: the output's size per sample, float32)")
    draw.set_defaults(run=_render, json=False)


def _render(args) -> int:
    from pathlib import Path

    from .cli import EXIT_OK, EXIT_SPEC, UsageError, _check_output, _input_files, _print_error, _program

    require("graphviz", job="archlang render")
    from .backends.dot import FORMATS, SHOW, DiagramOptions, render
    from .output import OutputError

    fmt = Path(args.output).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(f"cannot draw to '{Path(args.output).suffix or args.output}'; formats: "
                         + ", ".join("." + f for f in FORMATS))
    show = tuple(part.strip() for part in args.show.split(",") if part.strip())
    unknown = [part for part in show if part not in SHOW]
    if unknown:
        raise UsageError(f"--show takes {', '.join(SHOW)}; not {', '.join(unknown)}")
    if args.tikz_body and fmt != "tex":
        raise UsageError(f"--tikz-body writes a TikZ picture's body; .{fmt} is not .tex")
    if args.dpi is not None and fmt != "png":
        raise UsageError(f"--dpi sets a PNG's resolution; .{fmt} is {'text' if fmt == 'dot' else 'vector'} output")
    inches = lambda length: None if length is None else (
        length[0] / (args.dpi or 150) if length[1] == "px" else length[0] * _UNITS[length[1]])
    if "px" in (l[1] for l in (args.width, args.height) if l) and fmt != "png":
        raise UsageError(f"px sizes a PNG (at its --dpi); give .{fmt} a size in in, cm, mm or pt")
    try:
        options = DiagramOptions(args.collapse, args.fold, args.rankdir, show, theme=args.theme, dpi=args.dpi,
                                 width=inches(args.width), height=inches(args.height), tikz_body=args.tikz_body)
    except ValueError as err:
        raise UsageError(str(err)) from None
    inputs = _input_files(args)
    _check_output(args, inputs)
    program, names = _program(args)
    if len(names) != 1:
        raise UsageError(f"{args.spec} defines {len(names)} networks; choose one with -n")
    network, failed = program.drawable(names[0])  # a failing assertion is drawn, marked, not refused
    import warnings

    from .backends.layout import DoesNotFit, DrawingNote

    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", DrawingNote)
            render(network.graph, args.output, options, inputs=inputs)
    except DoesNotFit as err:
        raise UsageError(err.message + f" ({err.hint})") from None
    except OutputError as err:
        raise UsageError(str(err)) from None
    for note in notes:
        if issubclass(note.category, DrawingNote):
            print(f"note: {note.message}", file=sys.stderr)
    for err in failed:
        _print_error(err)
    marked = f"; {len(failed)} failed check{'s' if len(failed) > 1 else ''} marked in red" if failed else ""
    print(f"wrote {args.output} ({network.name}{marked})", file=sys.stderr)
    return EXIT_SPEC if failed else EXIT_OK
