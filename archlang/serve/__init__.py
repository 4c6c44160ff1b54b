"""`archlang serve`: a local web playground for .arch specs.

    server.py    the HTTP server and its JSON API (standard library only)
    pool.py      worker processes, each analysis bounded in time
    worker.py    a worker: reads requests, answers with analysis.py
    analysis.py  what a request computes: errors, table, totals, diagram, ONNX; `use` confined
    cli.py       the command line (`add_command` for archlang/cli.py, and `python -m archlang.serve`)
    static/      the page: index.html, app.js and app.css built from web/ (CodeMirror 6, esbuild)
"""

from .cli import add_command, main

__all__ = ["add_command", "main"]
