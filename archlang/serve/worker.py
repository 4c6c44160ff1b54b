"""A playground worker: a child process of `archlang serve` that analyses specs, one request at
a time. It reads one JSON object per line on stdin ({"job": "check" | "onnx", ...}) and
writes one per line on its stdout. The server kills it when a request runs past its time
bound, and starts another, so nothing a spec does can hang or crash the server.

    python -m archlang.serve.worker      (started by archlang/serve/pool.py, not by people)
"""

from __future__ import annotations

import json
import os
import sys


def _answer(request: dict) -> dict:
    from . import analysis

    job = request.get("job")
    try:
        if job == "check":
            return analysis.check(request)
        if job == "onnx":
            return analysis.onnx(request)
        if job == "ping":
            return {"pong": True}
        return {"errors": [analysis._failure("internal", f"unknown job {job!r}")]}
    except RecursionError:
        return {"errors": [analysis._failure("limit", "the spec nests too deeply to analyse",
                                             "reduce the nesting of blocks and parentheses")]}
    except MemoryError:
        return {"errors": [analysis._failure("limit", "out of memory: the network is too large to analyse here")]}
    except Exception as err:  # a bug in archlang: said once, as `archlang check` says it
        from .. import __version__

        message = " ".join(str(err).split())[:300]
        return {"errors": [analysis._failure(
            "internal", f"internal error: {type(err).__name__}" + (f": {message}" if message else ""),
            f"this is a bug in archlang {__version__}; please report it with the spec")]}


def main() -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # the protocol owns the real stdout; stray prints go to stderr
    from . import analysis  # noqa: F401  (imported before the first request, which then runs at once)
    from ..backends import dot  # noqa: F401

    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        answer = _answer(request)
        answer["id"] = request.get("id")
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
