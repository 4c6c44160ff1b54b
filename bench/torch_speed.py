"""Spec-built PyTorch modules against the same networks written by hand the torchvision way.

Goals (issue: PyTorch backend): forward latency of resnet50 and vgg16, batch 1 and 8,
built / hand-written at most 1.02; building resnet50 at most 1.10 times the hand-written
constructor. Runs are interleaved (built, hand, hand, built, ...) so that both see the same
machine; medians and best times are compared. Prints the figures; asserts nothing.

    .venv/bin/python bench/torch_speed.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archlang  # noqa: E402
from archlang.benchmark import interleaved  # noqa: E402
from tests import reference_models as ref  # noqa: E402

HAND = {"resnet50": ref.resnet50, "vgg16": lambda: ref.vgg("D")}


def compare(a, b, runs: int) -> tuple[float, float, float]:
    """Median times of a and b, and the ratio of their best times (the same computation twice:
    noise on a shared machine only ever adds time, so the best run is the truest)."""
    times = interleaved({"a": a, "b": b}, runs)
    return statistics.median(times["a"]), statistics.median(times["b"]), min(times["a"]) / min(times["b"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="resnet50 only, fewer runs")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {runs} interleaved runs")

    built_t, hand_t, ratio = compare(lambda: archlang.build("resnet50"), HAND["resnet50"], runs)
    print(f"build resnet50           archlang {built_t * 1e3:7.1f} ms   hand {hand_t * 1e3:7.1f} ms   "
          f"ratio {built_t / hand_t:.3f} (best {ratio:.3f})  (goal <= 1.10)")

    for name in ("resnet50",) if args.quick else ("resnet50", "vgg16"):
        built = archlang.build(name, seed=0).eval()
        hand = HAND[name]().eval()
        archlang.load_weights(built, hand)
        for batch in (1, 8):
            x = torch.randn(batch, 3, 224, 224)
            n = max(9, runs // 2) if name == "vgg16" and batch == 8 else runs
            with torch.inference_mode():
                for _ in range(2):  # warm up: the allocator and the kernels' first calls
                    built(x), hand(x)
                b, h, ratio = compare(lambda: built(x), lambda: hand(x), n)
            print(f"forward {name:9} b={batch}   archlang {b * 1e3:7.1f} ms   hand {h * 1e3:7.1f} ms   "
                  f"ratio {b / h:.3f} (best {ratio:.3f})  (goal <= 1.02)")


if __name__ == "__main__":
    main()
