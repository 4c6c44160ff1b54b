"""How fast the costs are on resnet152, in-process (issue: costs): the memory analysis
(`memory()`: inference peak and training step) and each counting convention, its graph
already lowered as `archlang check --count/--memory` has it.

Goal: memory under 0.1 s. The whole-process figure (`check resnet152 --json --count all
--memory` against plain `check`) is bench/check_speed.py's. Prints the best of several runs
and the estimate itself; asserts nothing (machines are noisy).

    .venv/bin/python bench/costs_speed.py
"""

from __future__ import annotations

import time

import archlang
from archlang.analysis.counting import layer_counts
from archlang.analysis.memory import memory
from archlang.cost_report import conventions
from archlang.budget import human_bytes


def best_time(fn, runs: int = 20) -> float:
    fn()  # warm: imports, cached graph properties
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    graph = archlang.load("resnet152").network("resnet152").graph
    seconds = best_time(lambda: memory(graph, 8, "float32", "adam"))
    report = memory(graph, 8, "float32", "adam")
    print(f"memory(resnet152), {len(graph.layers)} layers   {seconds * 1000:6.1f} ms  (goal < 100 ms)")
    print(f"  batch 8, float32: weights {human_bytes(report.weights)}, inference peak "
          f"{human_bytes(report.inference_peak)}, training step with Adam {human_bytes(report.training_step)}")
    for conv in conventions():
        seconds = best_time(lambda: layer_counts(graph, conv))
        total = sum(layer_counts(graph, conv).values())
        print(f"count {conv.name:<8} {seconds * 1000:6.1f} ms  {total:>18,} {conv.unit}")


if __name__ == "__main__":
    main()
