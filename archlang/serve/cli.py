"""The `serve` command: `archlang serve [SPEC] [--port 8000]`, and `python -m archlang.serve`.

archlang/cli.py registers it with `add_command(sub)`, as it does fmt and diff."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from typing import Sequence

DESCRIPTION = (
    "A local web playground: an editor with highlighting and errors under the lines they are about, the "
    "diagram (zoomable, with collapse and fold), the per-layer table and totals, all updating as you type; the "
    "bundled networks as examples; share links; downloads of the .arch, the SVG and the ONNX file. It works "
    "offline and binds to 127.0.0.1. With SPEC, the page opens on it and `use` may read .arch files in its folder; "
    "otherwise only the bundled library."
)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not '{text}'") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0: any free port), not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not '{text}'") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 3600 seconds, not {text}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError(f"must be 1 to 32, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="SPEC",
                        help="a .arch file or a bundled network to open (default: the bundled examples only)")
    parser.add_argument("-n", "--network", metavar="NAME", help="the network of SPEC to show first")
    parser.add_argument("--port", type=_port, default=8000, help="the port (default 8000; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the "
                        "network, which the playground is not hardened for)")
    parser.add_argument("--timeout", type=_seconds, default=10.0, metavar="S",
                        help="seconds an analysis may take before it is stopped (default 10)")
    parser.add_argument("--workers", type=_workers, default=2, metavar="N",
                        help="analysis worker processes (default 2)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def add_command(sub) -> None:
    serve = sub.add_parser("serve", help="a local web playground: edit a spec and see its diagram, table and errors "
                           "as you type", description=DESCRIPTION)
    add_arguments(serve)
    serve.set_defaults(run=run, json=False)


def _served(args) -> tuple[str | None, str | None]:
    """(the .arch file to serve, the network to show), from SPEC and -n. A usage error
    (archlang.cli.UsageError) for a SPEC that names nothing readable."""
    from ..cli import UsageError
    from ..errors import ArchError
    from ..program import bundled_networks, load

    if args.spec is None:
        return None, args.network
    if args.spec == "-":
        raise UsageError("serve takes a .arch file or a bundled network, not standard input")
    try:
        program = load(args.spec)
    except ArchError as err:
        if err.span is None:  # the file cannot be read at all
            raise UsageError(err.render().removeprefix("error: ")) from None
        program = None  # it reads but has errors: the playground shows them
    bundled = bundled_networks(exercises=True)
    if program is not None and program.default is not None:  # a bundled network's name
        return str(bundled[args.spec]), args.network or args.spec
    return args.spec, args.network


def run(args) -> int:
    from ..cli import EXIT_OK, UsageError
    from .server import Playground, log, make_server

    spec, network = _served(args)
    playground = Playground(spec=spec, network=network, timeout=args.timeout, workers=args.workers,
                            onnx_timeout=max(120.0, 6 * args.timeout))
    try:
        server = make_server(playground, args.host, args.port)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise UsageError(f"port {args.port} is in use; choose another with --port (--port 0 picks a free one)") \
                from None
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
    server.quiet = not args.verbose
    what = f"{spec}" if spec else "the bundled examples"
    log(f"archlang serve: {server.url}  ({what}; Ctrl-C stops it)")
    if server.open_to_all:
        log("  warning: listening on every interface; anyone who can reach this machine can use the playground")
    if args.open:
        import webbrowser

        webbrowser.open(server.url)

    def stop(signum, frame):  # SIGTERM ends it as Ctrl-C does: workers stopped, temporary files removed
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        pass
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m archlang.serve [SPEC] [--port 8000]`."""
    from ..cli import EXIT_USAGE, UsageError

    parser = argparse.ArgumentParser(prog="python -m archlang.serve", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as err:
        print(f"archlang: error: {err}", file=sys.stderr)
        return EXIT_USAGE
