"""The zoo's speed goals (issue 10), measured side by side in one run; asserts nothing.

- `check` of the whole bundled library (every network, one process): goal under 2 s;
- forward of the built module / the hand-written torchvision-style reference, batch 1 and 8,
  for mobilenet_v2, densenet121 and efficientnet_b0 (interleaved; medians and best times):
  goal at most 1.02;
- archlang's ONNX export against torch.onnx.export of the reference: faster.

    .venv/bin/python bench/zoo_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archlang  # noqa: E402
from archlang.benchmark import interleaved  # noqa: E402
from tests import reference_zoo_classic, reference_zoo_mobile  # noqa: E402

REFERENCES = {
    "mobilenet_v2": reference_zoo_mobile.MobileNetV2,
    "densenet121": reference_zoo_classic.densenet121,
    "efficientnet_b0": reference_zoo_mobile.efficientnet_b0,
}


def check_the_zoo() -> float:
    start = time.perf_counter()
    programs: dict = {}
    for name, path in archlang.bundled_networks().items():
        programs.setdefault(path, archlang.load(path)).network(name)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.runs} interleaved runs")
    seconds = check_the_zoo()
    print(f"check, the whole zoo ({len(archlang.bundled_networks())} networks, one process)   "
          f"{seconds * 1e3:7.0f} ms  (goal < 2000 ms)")
    for name, make in REFERENCES.items():
        built = archlang.build(name, seed=0).eval()
        hand = make().eval()
        archlang.load_weights(built, hand)
        for batch in (1, 8):
            x = torch.randn(batch, *built.network.input_shape)
            with torch.inference_mode():
                for _ in range(2):  # warm up: the allocator and the kernels' first calls
                    built(x), hand(x)
                times = interleaved({"built": lambda: built(x), "hand": lambda: hand(x)}, args.runs)
            b, h = statistics.median(times["built"]), statistics.median(times["hand"])
            best = min(times["built"]) / min(times["hand"])
            print(f"forward {name:16} b={batch}   archlang {b * 1e3:7.1f} ms   reference {h * 1e3:7.1f} ms   "
                  f"ratio {b / h:.3f} (best {best:.3f})  (goal <= 1.02)")
        with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
            x = torch.randn(1, *built.network.input_shape)

            def theirs():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(hand, (x,), str(Path(tmp) / "torch.onnx"), dynamo=False,
                                      input_names=["input"], output_names=["output"])

            times = interleaved({"ours": lambda: archlang.export_onnx(built, Path(tmp) / "archlang.onnx"),
                                 "theirs": theirs}, max(3, args.runs // 5))
            o, t = statistics.median(times["ours"]), statistics.median(times["theirs"])
            print(f"export  {name:16}       archlang {o * 1e3:7.1f} ms   torch.onnx.export {t * 1e3:7.1f} ms   "
                  f"{t / o:.1f}x faster  (goal > 1x)")


if __name__ == "__main__":
    main()
