"""How fast `archlang sizes` is: the sweep against brute force (a lowering per size).

Goal (issue 11, point 6): resnet152 with --max 4096 under 1 s. Prints, side by side in one
run, the sweep's time for resnet152 and for U-Net written with a `1x?x?` header at --max
4096, and brute force's at --max 256 next to the sweep's at 256 (a real ratio); brute force
at 4096 is extrapolated from it (lowering costs the same at any size) and labelled so.
Asserts nothing (machines are noisy); checks that both methods agree where both run.

    .venv/bin/python bench/sizes_speed.py
"""

from __future__ import annotations

import statistics
import time

import archlang
from archlang.sizes import brute_force, sizes

UNET = """use "unet"
network unet_open : 1x?x? = unet_levels(valid_conv)
"""
SMALL = 256
FULL = 4096


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    cases = [("resnet152", archlang.load("resnet152"), "resnet152"),
             ("unet (1x?x?)", archlang.parse(UNET, "unet_open.arch"), "unet_open")]
    print(f"{'network':<14} {'sweep @' + str(FULL):>12} {'sweep @' + str(SMALL):>12} "
          f"{'brute @' + str(SMALL):>12} {'ratio @' + str(SMALL):>11} {'brute @' + str(FULL) + ' (extrapolated)':>26}")
    for label, program, name in cases:
        fast_full, _ = timed(lambda: sizes(program, name, FULL), 5)
        fast_small, small = timed(lambda: sizes(program, name, SMALL), 5)
        slow_small, oracle = timed(lambda: brute_force(program, name, SMALL), 1)
        assert [a.valid for a in small.axes] == [a.valid for a in oracle.axes], label
        extrapolated = slow_small * FULL / SMALL
        print(f"{label:<14} {fast_full * 1e3:>10.0f}ms {fast_small * 1e3:>10.0f}ms {slow_small:>11.1f}s "
              f"{slow_small / fast_small:>10.0f}x {extrapolated:>12.0f}s ({extrapolated / fast_full:,.0f}x)")


if __name__ == "__main__":
    main()
