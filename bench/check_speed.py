"""How fast `archlang check` is: a whole process on resnet152, and analysis scaling with size.

Goals (issue: instant feedback; issue: costs): `archlang check resnet152 --json` as a whole
process, Python start-up included, under 0.15 s (bench/startup.py sets it beside Python's own
start-up and torchinfo), `--count all --memory` adding under 0.15 s more; parse + analyse
linear in the number of layers (1,000 / 10,000 / 100,000), 10,000 under 0.2 s; `check`
printing its table for 100,000 layers under 3 s, `render --collapse` of 10,000 under 5 s
(whole processes, a spec of repeated blocks). Prints the figures, parsing and analysis
apart; asserts nothing (machines are noisy).

    .venv/bin/python bench/check_speed.py
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archlang
from archlang.lower import Limits

ARCHLANG = str(Path(sys.executable).with_name("archlang"))


def whole_process(args: list[str], runs: int = 15) -> float:
    subprocess.run(args, capture_output=True, check=True)  # warm the disk cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def generated(layers: int) -> str:
    """A plain chain of `layers` layers, written out (no repeats), so parsing scales too."""
    unit = ["conv3x3(16)", "bn", "relu"]
    body = " -> ".join(unit[i % 3] for i in range(layers))
    return f"network big : 16x32x32 = {body}\n"


# the 100,000-layer chain is 300,000 tokens, over the limit of a file (Limits.max_tokens, which
# bounds the time of any text): raised, as a user with a spec that size raises it (--max-tokens)
RAISED = Limits(max_tokens=400_000)


def analysis_time(text: str, runs: int = 3) -> tuple[float, float]:
    """(parse, analyse) seconds, the best of `runs`, with the cyclic garbage collector off as
    the `archlang` program runs (cli.run): on, its passes over a 100,000-layer network's
    objects add a third."""
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            program = archlang.parse(text, limits=RAISED)
            t1 = time.perf_counter()
            net = program.network("big")
            t2 = time.perf_counter()
        finally:
            gc.enable()
        best = min(best, (t1 - t0, t2 - t1), key=sum)
    assert net.total_params > 0
    return best


def main() -> None:
    python = whole_process([sys.executable, "-c", "pass"])
    check = whole_process([ARCHLANG, "check", "resnet152", "--json"])
    print(f"archlang check resnet152 --json   {check * 1000:6.0f} ms  (goal < 150 ms; bare python start-up {python * 1000:.0f} ms)")
    costs = whole_process([ARCHLANG, "check", "resnet152", "--json", "--count", "all", "--memory"])
    print(f"  ... --count all --memory         {costs * 1000:6.0f} ms  (every cost added: goal < {check * 1000 + 150:.0f} ms)")
    sizes = {n: analysis_time(generated(n), runs=3 if n < 100_000 else 1) for n in (1_000, 10_000, 100_000)}
    for n, (parse, analyse) in sizes.items():
        goal = "  (goal < 200 ms)" if n == 10_000 else ""
        print(f"parse + analyse, {n:>7,} layers   {(parse + analyse) * 1000:6.0f} ms  "
              f"(parse {parse * 1000:.0f}, analyse {analyse * 1000:.0f}){goal}")
    total = {n: sum(t) for n, t in sizes.items()}
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "big.arch"
        spec.write_text("block unit(c) = conv3x3(c) -> bn -> relu\n"
                        "network wide : 16x32x32 = unit(16) * 3334\n"  # 10,002 layers
                        "network long : 3x8x8 = relu * 100000\n")
        table = whole_process([ARCHLANG, "check", str(spec), "-n", "long"], runs=3)
        drawn = whole_process([ARCHLANG, "render", str(spec), "-n", "wide", "--collapse", "-o",
                               str(Path(folder) / "wide.svg")], runs=3)
    print(f"check, its table, 100,000 layers   {table * 1000:6.0f} ms  (goal < 3000 ms)")
    print(f"render --collapse, 10,000 layers   {drawn * 1000:6.0f} ms  (goal < 5000 ms)")
    print(f"ratios 10k / 1k, 100k / 10k        {total[10_000] / total[1_000]:6.1f}, "
          f"{total[100_000] / total[10_000]:.1f}     (linear: about 10)")

if __name__ == "__main__":
    main()
