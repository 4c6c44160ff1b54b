"""`archlang compile` and `archlang bench`: the commands that take a network to a runtime,
PyTorch source (.py), a torch.export program (.pt2) or an ONNX model (.onnx), and time it in
PyTorch eager, torch.compile and ONNX Runtime. torch, ONNX and ONNX Runtime are imported inside
the handlers, and only for the targets that need them (`compile -o x.py` imports none). Each
`add_*` declares one command's arguments for archlang/cli.py, which names it in its COMMANDS
table and imports this module only when one of these commands runs (or --help lists them).
"""

from __future__ import annotations

import argparse
import sys

from .cli import EXIT_OK, UsageError, _check_output, _input_files, _networks, _positive, _spec_arguments
from .extras import require

__all__ = ["add_compile", "add_bench"]

SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed accepts


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}")
    return value


def add_compile(sub) -> None:
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
    comp.add_argument("--max-tokens", type=_positive, metavar="N", help=argparse.SUPPRESS)
    comp.set_defaults(run=_compile, json=False)


def add_bench(sub) -> None:
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
