"""`archlang bench`: one network's latency in PyTorch eager, torch.compile and ONNX Runtime on
this machine, measured interleaved (each round runs every engine once, in rotating order)."""

from __future__ import annotations

import statistics
import time
from typing import Callable

from .records import record

__all__ = ["Result", "run_bench", "interleaved", "ort_session"]


def interleaved(fns: dict[str, Callable[[], object]], runs: int,
                step: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Seconds per call of each function, `runs` rounds, each round calling every function
    once in a rotated order, so that drifts of a shared machine hit them all alike."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(runs):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
            if step:
                step()
    return times


def ort_session(model: bytes | str, threads: int):
    """An ONNX Runtime CPU session on `threads` threads whose workers do not spin between
    runs: spinning workers steal the cores from whatever runs next, which would slow the
    other engines of an interleaved measurement, not ONNX Runtime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@record
class Result:
    engine: str
    times: tuple[float, ...]
    batch: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p90(self) -> float:
        if len(self.times) < 2:
            return self.times[0]
        return statistics.quantiles(self.times, n=10, method="inclusive")[-1]

    @property
    def throughput(self) -> float:
        return self.batch / self.median


def _engines(network, batch: int, compile_: bool, threads: int | None):
    import numpy as np
    import torch

    from .backends.onnx_model import export_onnx
    from .backends.torch_module import example_input

    if threads:
        torch.set_num_threads(threads)
    module = network.to_torch(seed=0).eval()
    xs = [example_input(t, batch) for _, t in network.inputs]
    engines: dict[str, Callable[[], object]] = {}

    def eager():
        with torch.inference_mode():
            out = module(*xs)
            return out[0] if isinstance(out, tuple) else out

    engines["pytorch eager"] = eager
    if compile_:
        compiled = torch.compile(module)

        def run_compiled():
            with torch.inference_mode():
                return compiled(*xs)

        engines["torch.compile"] = run_compiled
    session = ort_session(export_onnx(module).SerializeToString(), torch.get_num_threads())
    feed = {name: x.numpy() for (name, _), x in zip(network.inputs, xs)}
    engines["onnxruntime"] = lambda: session.run(None, feed)
    check = np.abs(session.run(None, feed)[0] - eager().numpy()).max()
    return engines, float(check), torch.get_num_threads()


def run_bench(network, batch: int = 1, runs: int = 20, compile_: bool = False, threads: int | None = None,
              console=None) -> list[Result]:
    """Time `network` at `batch` and print the results table to `console` (a rich Console;
    default: standard output); progress goes to standard error. Refuses (LimitError) before
    building anything when its weights and two activations at `batch` would not fit."""
    from .budget import activation_bytes, check_fits, weight_bytes

    check_fits(weight_bytes(network) + activation_bytes(network, batch),
               f"benchmarking {network.name} at batch {batch:,} (weights and activations)")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    console = console or Console()
    progress_console = Console(stderr=True)
    with progress_console.status(f"building {network.name} and its ONNX model" + (" (torch.compile takes a while)" if compile_ else "")):
        engines, diff, threads = _engines(network, batch, compile_, threads)
        for fn in engines.values():  # warm up: first calls allocate, compile and plan
            fn()
            fn()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=progress_console, transient=True) as progress:
        task = progress.add_task(f"{network.name} batch {batch}", total=runs * len(engines))
        times = interleaved(engines, runs, step=lambda: progress.advance(task))
    results = [Result(n, tuple(t), batch) for n, t in times.items()]
    eager = results[0].median
    table = Table(title=f"[bold]{network.name}[/]  batch {batch}, {threads} threads, {runs} interleaved runs",
                  title_justify="left")
    for col in ("Engine", "Median (ms)", "p90 (ms)", "Throughput (/s)", "Speed-up vs eager"):
        table.add_column(col, justify="left" if col == "Engine" else "right")
    for res in results:
        table.add_row(res.engine, f"{res.median * 1e3:.2f}", f"{res.p90 * 1e3:.2f}", f"{res.throughput:,.1f}",
                      f"{eager / res.median:.2f}x")
    console.print(table)
    console.print(f"  ONNX Runtime vs PyTorch: max abs difference {diff:.2e}", highlight=False)
    return results
