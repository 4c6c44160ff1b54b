"""How fast `archlang solve` is (issue 11), measured side by side in one run; asserts nothing.

- LeNet-5 with the kernel, stride and padding of both convolutions open (six holes), the
  shapes asserted after each: goal under 0.5 s;
- a 50-layer network with 10 holes (kernels, strides, paddings, a width pinned by an
  assertion, a dilation, a pooling window, the classifier's width under a budget): goal
  under 2 s, the search stopping at the default 1,000 solutions as `archlang solve` does;
- the ratio against brute-force enumeration (every value of every hole lowered on its own,
  solver.brute_force) on the same specs: on LeNet with one convolution open (brute force
  on six holes takes minutes), and on the 50-layer network with its two widths given
  (brute force would lower it once per width: 1,024 times each).

    .venv/bin/python bench/solve_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import archlang
from archlang.solver import brute_force, solve

LENET = """network lenet : 1x32x32 -> 10 =
    conv(6, k=?, stride=?, pad=?) : 6@28x28 -> tanh -> avgpool : 6@14x14
    -> conv(16, k=?, stride=?, pad=?) : 16@10x10 -> tanh -> avgpool : 16@5x5
    -> flatten -> fc(120) -> tanh -> fc(84) -> tanh -> fc(10)
"""

LENET_ONE = LENET.replace("conv(16, k=?, stride=?, pad=?)", "conv(16, k=5, stride=1, pad=0)")

DEEP = """block unit(c) = conv3x3(c, bias=false) -> bn -> relu
network deep : 3x64x64 -> 10 =
    conv(32, k=?, stride=2, pad=?, bias=false) : 32x32x32 -> bn -> relu
    -> unit(32) * 4
    -> conv(?, k=3, stride=?, pad=?, bias=false) : 64x16x16 -> bn -> relu -> unit(64) * 4
    -> conv(128, k=?, stride=2, pad=?, bias=false) : 128x8x8 -> bn -> relu -> unit(128) * 3
    -> conv(128, k=3, dilation=?, pad=2, bias=false) : 128x8x8 -> bn -> relu
    -> maxpool(k=?, stride=2) : 128x4x4
    -> flatten -> fc(?) -> relu -> fc(10)
    where params <= 2.5M
"""


def best_of(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lenet, deep = archlang.parse(LENET), archlang.parse(DEEP)
    seconds, solved = best_of(lambda: solve(lenet), args.runs)
    print(f"solve lenet, 6 holes: {len(solved.solutions)} solutions, {solved.lowerings} lowerings   "
          f"{seconds * 1e3:7.1f} ms  (goal < 500 ms)")
    layers = len(deep.network("deep", solve(deep, limit=1).solutions[0]).layers)
    seconds, solved = best_of(lambda: solve(deep), args.runs)
    print(f"solve deep, {layers} layers, {len(solved.holes)} holes: {len(solved.solutions)} solutions (limit), "
          f"{solved.lowerings} lowerings   {seconds * 1e3:7.1f} ms  (goal < 2000 ms)")
    one = archlang.parse(LENET_ONE)
    fast, solved = best_of(lambda: solve(one, limit=None), args.runs)
    slow, found = best_of(lambda: brute_force(one), 1)
    assert len(found) == len(solved.solutions)
    print(f"lenet, 3 holes, every solution ({len(found)}): solve {fast * 1e3:.1f} ms, brute force {slow * 1e3:.0f} ms"
          f"   {slow / fast:.0f}x")
    fixed = archlang.parse(DEEP.replace("conv(?, k=3", "conv(64, k=3").replace("fc(?)", "fc(256)"))
    fast, solved = best_of(lambda: solve(fixed, limit=None), args.runs)
    slow, found = best_of(lambda: brute_force(fixed), 1)
    assert len(found) == len(solved.solutions)
    print(f"deep, 8 holes (widths given), every solution ({len(found)}): solve {fast * 1e3:.1f} ms, "
          f"brute force {slow * 1e3:.0f} ms   {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
