"""What the playground's worker process computes for one request: the analysis of the
editor's text (networks, errors, per-layer table, totals, diagram) and the ONNX export.

Runs only inside a worker (archlang/serve/worker.py), never in the server process, so a
slow or crashing analysis costs a worker, which the server kills and replaces, and never
the server. Every failure of the spec is returned as data (a list of located errors, as
`archlang check --json` prints them); nothing here raises for any input.

`use` is confined: the editor's text may import the bundled library (`use "resnet"`) and
`.arch` files in the served SPEC's folder and below, nothing else. A `use` that leaves them
(`use "../../home/me/secret.arch"`, an absolute path, a symlink pointing out) is a located
error, decided on the path as written and again on the resolved one, before any file is
opened, so the error says nothing about what exists outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..errors import ArchError, LimitError, SpecImportError
from ..lower import Limits
from ..program import Program, _Collector, _use_path
from ..reading import MAX_FILE_BYTES, real_path
from ..resources import specs_dir
from ..output import shown_path

__all__ = ["confined_program", "check", "onnx", "MAX_TABLE_ROWS", "MAX_ONNX_PARAMS"]

MAX_TABLE_ROWS = 5_000  # rows of the layer table sent to the browser (the totals count all)
MAX_ONNX_PARAMS = 400_000_000  # 1.6 GB of float32: one protobuf file, below its 2 GiB limit


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)


class _Confined(_Collector):
    """The program's collector, with every `use` checked against the allowed folders."""

    def __init__(self, roots: tuple[Path, ...], max_tokens: int) -> None:
        super().__init__(max_tokens)
        self.roots = roots

    def use(self, item, module, stack) -> None:
        path = _use_path(item, module)  # a bundled name, or relative to the importing file
        refused = SpecImportError(
            f"the playground does not read '{shown_path(item.path)}': it is outside "
            + ("the bundled library and the served spec's folder" if len(self.roots) > 1 else "the bundled library"),
            item.span,
            hint="use a bundled spec by name (use \"resnet\")"
            + (", or a .arch file beside the served spec" if len(self.roots) > 1 else
               "; to use files of your own, start the playground on your spec: archlang serve my.arch"),
        )
        if not _inside(Path(os.path.abspath(path)), self.roots):
            raise refused
        if not _inside(real_path(path, item.span, shown=item.path), self.roots):  # a link that points out
            raise refused
        super().use(item, module, stack)


def roots_for(served: str | None) -> tuple[Path, ...]:
    """The folders `use` may read: the bundled library, and the served spec's folder."""
    roots = [specs_dir().resolve()]
    if served:
        roots.append(Path(served).resolve().parent)
    return tuple(roots)


def confined_program(text: str, filename: str, roots: tuple[Path, ...], limits: Limits | None = None) -> Program:
    """`archlang.parse(text, filename)`, with `use` confined to `roots`."""
    from .. import syntax as S
    from ..parser import parse_module

    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise LimitError(f"the spec is over the {MAX_FILE_BYTES:,}-byte limit",
                         hint="a spec this large is almost certainly not a spec")
    limits = limits or Limits()
    module = parse_module(text, filename, limits.max_tokens)
    key = Path(filename).resolve()
    collector = _Confined(roots, limits.max_tokens)
    collector.module(module, key, (key,))
    own = tuple(i.name for i in module.items if isinstance(i, S.Network))
    return Program(module, collector.defs, own, None, limits)


def _error(err: ArchError, filename: str) -> dict:
    data = err.to_dict()
    data["here"] = data["file"] == filename and data["line"] is not None  # in the editor's text
    return data


def _failure(kind: str, message: str, hint: str | None = None) -> dict:
    return {"file": None, "line": None, "column": None, "end_line": None, "end_column": None, "kind": kind,
            "message": message, "detail": None, "hint": hint, "notes": [], "here": False}


def _table(network) -> list[dict]:
    """The rows of `archlang check`'s table, cell for cell (report.summary_rows), with each
    layer's family for colour."""
    from ..report import summary_rows

    rows = summary_rows(network)[:MAX_TABLE_ROWS]
    return [{"name": r[0], "op": r[1], "output": r[2], "params": r[3], "macs": r[4], "rf": r[5], "jump": r[6],
             "family": info.family.value} for r, info in zip(rows, network.layers)]


def check(request: dict) -> dict:
    """The editor's text analysed: {name, networks, network, errors, summary, table,
    table_truncated, svg, diagram_error, ms}. `request`: spec, filename, roots, network,
    collapse, fold, rankdir, show."""
    start = time.perf_counter()
    filename = request["filename"]
    result: dict = {"name": Path(filename).name, "networks": [], "network": None, "errors": [], "summary": None,
                    "table": [], "table_truncated": False, "svg": None, "diagram_error": None}
    try:
        program = confined_program(request["spec"], filename, tuple(Path(r) for r in request["roots"]))
    except ArchError as err:
        result["errors"].append(_error(err, filename))
        return _done(result, start)
    result["networks"] = list(program.networks)
    if not program.networks:
        return _done(result, start)
    name = request.get("network")
    if name not in program.networks:
        name = program.networks[0]
    result["network"] = name
    try:
        network, failed = program.drawable(name)
    except ArchError as err:
        result["errors"].append(_error(err, filename))
        return _done(result, start)
    result["errors"].extend(_error(err, filename) for err in failed)
    layers = network.layers
    result["table"] = _table(network)
    result["table_truncated"] = len(layers) > MAX_TABLE_ROWS
    result["summary"] = {"signature": network.graph.signature, "total_params": network.total_params,
                         "total_macs": network.total_macs, "layers": len(layers), "failed": len(failed)}
    result["svg"], result["diagram_error"] = _diagram(network, request, start)
    return _done(result, start)


def _diagram(network, request: dict, start: float) -> tuple[str | None, str | None]:
    """The SVG, or why there is none. Graphviz gets what is left of the request's time bound
    (less a margin), so a diagram too large to lay out in time costs the diagram only: the
    table and totals still arrive."""
    try:
        from ..backends.dot import DiagramOptions, dot_available, to_dot
    except ImportError:  # the graphviz package (archlang[viz]) is missing
        return None, "diagrams need archlang[viz]: pip install 'archlang[viz]'"
    if not dot_available():
        from ..backends.dot import INSTALL_HINT

        return None, INSTALL_HINT
    options = DiagramOptions(bool(request.get("collapse")), bool(request.get("fold")),
                             request.get("rankdir") or "TB", tuple(request.get("show") or ()))
    try:
        source = to_dot(network.graph, options).source
    except ArchError as err:  # too many boxes to lay out
        return None, err.message + (f"; {err.hint}" if err.hint else "")
    budget = float(request.get("timeout", 10.0)) * 0.9 - (time.perf_counter() - start)
    if budget <= 0.05:
        return None, "no time was left to draw the diagram; try Collapse and Fold"
    try:
        done = subprocess.run([shutil.which("dot") or "dot", "-Kdot", "-Tsvg"], input=source.encode("utf-8"),
                              capture_output=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return None, (f"Graphviz took longer than {budget:.1f} s to lay out {network.name}; Collapse and Fold "
                      "draw it with fewer boxes")
    except OSError as err:
        return None, f"Graphviz's dot could not run: {err}"
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["(no message)"]
        return None, f"Graphviz's dot failed: {message[0][:300]}"
    return done.stdout.decode("utf-8"), None


def _done(result: dict, start: float) -> dict:
    result["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def onnx(request: dict) -> dict:
    """The network exported to ONNX at request["path"] (weights drawn with numpy, seed 0):
    {"written": path, "network"} or {"errors": [...]}."""
    filename = request["filename"]
    try:
        program = confined_program(request["spec"], filename, tuple(Path(r) for r in request["roots"]))
        if not program.networks:
            return {"errors": [_failure("usage", "the spec defines no network to export")]}
        name = request.get("network")
        network = program.network(name if name in program.networks else program.networks[0])
    except ArchError as err:
        return {"errors": [_error(err, filename)]}
    if network.total_params > MAX_ONNX_PARAMS:
        return {"errors": [_failure(
            "limit", f"{network.name} has {network.total_params:,} parameters; the playground exports up to "
            f"{MAX_ONNX_PARAMS:,} (one file under ONNX's 2 GiB)",
            hint=f"archlang compile SPEC -n {network.name} -o {network.name}.onnx writes it with external data")]}
    try:
        from ..extras import MissingExtra, require

        require("onnx", "numpy", job="exporting to ONNX")
    except MissingExtra as err:
        return {"errors": [_failure("missing-extra", err.message)]}
    from ..backends.onnx_model import export_onnx

    try:
        written = export_onnx(network, request["path"], seed=0)
    except ArchError as err:
        return {"errors": [_error(err, filename)]}
    return {"written": str(written[0]), "network": network.name}
