"""How fast `archlang check` is: a whole process on resnet152, and analysis scaling with size.

Goals (issue: language core; issue: costs): `archlang check resnet152 --json` as a whole
process, Python start-up included, in at most 0.3 s, with and without `--count all --memory`; analysis linear in the number of layers, with a
10,000-layer network under 1 s. Prints the figures; asserts nothing (machines are noisy).

    .venv/bin/python bench/check_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import archlang

ARCHLANG = str(Path(sys.executable).with_name("archlang"))


def whole_process(args: list[str], runs: int = 15) -> float:
    subprocess.run(args, capture_output=True, check=True)  # warm the disk cache and lark's table cache
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


def analysis_time(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        net = archlang.parse(text).network("big")
        best = min(best, time.perf_counter() - t0)
    assert net.total_params > 0
    return best


def main() -> None:
    python = whole_process([sys.executable, "-c", "pass"])
    check = whole_process([ARCHLANG, "check", "resnet152", "--json"])
    print(f"archlang check resnet152 --json   {check * 1000:6.0f} ms  (goal <= 300 ms; bare python start-up {python * 1000:.0f} ms)")
    costs = whole_process([ARCHLANG, "check", "resnet152", "--json", "--count", "all", "--memory"])
    print(f"  ... --count all --memory         {costs * 1000:6.0f} ms  (goal <= 300 ms: every cost added)")
    t1k = analysis_time(generated(1_000))
    t10k = analysis_time(generated(10_000))
    print(f"parse + analyse, 1,000 layers      {t1k * 1000:6.0f} ms")
    print(f"parse + analyse, 10,000 layers     {t10k * 1000:6.0f} ms  (goal < 1000 ms)")
    print(f"ratio 10k / 1k                     {t10k / t1k:6.1f}     (linear: about 10)")


if __name__ == "__main__":
    main()
