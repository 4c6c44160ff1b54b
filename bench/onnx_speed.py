"""archlang's ONNX export against torch.onnx.export (the TorchScript exporter), on resnet50.

Goals (issue: ONNX backend), measured side by side in one run:
- export time: archlang at least 10x faster than torch.onnx.export of the same module;
- ONNX Runtime latency of archlang's model / torch's model for the same module: at most 1.0;
- ONNX Runtime against PyTorch eager, batch 1, 2 threads: the speed-up (about 1.4x was seen
  with torch's exporter).
Runs are interleaved; medians and best times are printed. Asserts nothing.

    .venv/bin/python bench/onnx_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import archlang
from archlang.benchmark import interleaved, ort_session


def summary(times: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Median and best time of each engine."""
    return {k: statistics.median(v) for k, v in times.items()}, {k: min(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = archlang.build("resnet50", seed=0).eval()
    x = torch.randn(1, 3, 224, 224)
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} threads")
    # Both exporters write the same 100 MB. On a disk the file system's own cost (writeback,
    # ext4 flushing a file renamed over another) dominates and varies; in memory (tmpfs)
    # what is left is the exporters' own work. Both are shown.
    places = [("disk", Path(tempfile.mkdtemp(dir=Path(__file__).resolve().parent)))]
    if Path("/dev/shm").is_dir():
        places.insert(0, ("tmpfs", Path(tempfile.mkdtemp(dir="/dev/shm"))))
    for where, tmp in places:
        ours, theirs = tmp / "archlang.onnx", tmp / "torch.onnx"

        def torch_export(theirs=theirs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (x,), str(theirs), dynamo=False, input_names=["input"],
                                  output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})

        def plain_write(path=tmp / "plain.bin"):
            path.write_bytes(blob)

        archlang.export_onnx(module, ours)
        blob = ours.read_bytes()
        size = len(blob)
        export = interleaved({"archlang": lambda ours=ours: archlang.export_onnx(module, ours), "torch": torch_export,
                              "write": plain_write}, 7)
        a, t, w = (statistics.median(export[k]) for k in ("archlang", "torch", "write"))
        print(f"export resnet50 ({where:5}) archlang {a * 1e3:7.1f} ms   torch.onnx.export {t * 1e3:7.1f} ms   "
              f"{t / a:5.1f}x faster  (goal >= 10x)")
        print(f"  for scale: writing the same {size / 2**20:.0f} MB with a plain write_bytes takes {w * 1e3:.1f} ms here")
    ours, theirs = places[0][1] / "archlang.onnx", places[0][1] / "torch.onnx"

    for label, path in (("archlang's", ours), ("torch's", theirs)):
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(path.with_suffix(".optimized.onnx"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        import onnx

        ops = collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)
        print(f"  {label:10} model after ONNX Runtime's optimisations: "
              + ", ".join(f"{n} {op}" for op, n in sorted(ops.items())))
    s_ours, s_theirs = ort_session(str(ours), args.threads), ort_session(str(theirs), args.threads)
    feed = {"input": x.numpy()}
    with torch.inference_mode():
        reference = module(x).numpy()
    for s in (s_ours, s_theirs):
        assert np.abs(s.run(None, feed)[0] - reference).max() < 1e-3
        for _ in range(3):
            s.run(None, feed)

    def eager():
        with torch.inference_mode():
            module(x)

    eager()
    # ONNX Runtime against ONNX Runtime first, alone: PyTorch's OpenMP workers spin for a
    # while after each call, and would slow whichever session happened to run right after
    # a second session of our own model is the control: its ratio is this machine's noise
    s_control = ort_session(str(ours), args.threads)
    s_control.run(None, feed)
    times = interleaved({"ours": lambda: s_ours.run(None, feed), "theirs": lambda: s_theirs.run(None, feed),
                         "control": lambda: s_control.run(None, feed)}, args.runs)
    med, best = summary(times)
    print(f"ORT latency resnet50 b=1 archlang {med['ours'] * 1e3:7.2f} ms   torch's model {med['theirs'] * 1e3:7.2f} ms   "
          f"ratio {med['ours'] / med['theirs']:.3f} (best {best['ours'] / best['theirs']:.3f})  (goal <= 1.0)")
    print(f"  control, archlang's model against itself: ratio {med['ours'] / med['control']:.3f} "
          f"(best {best['ours'] / best['control']:.3f})")
    times = interleaved({"ours": lambda: s_ours.run(None, feed), "eager": eager}, args.runs)
    med, best = summary(times)
    print(f"ORT vs PyTorch eager b=1 ORT {med['ours'] * 1e3:7.2f} ms   eager {med['eager'] * 1e3:7.2f} ms   "
          f"speed-up {med['eager'] / med['ours']:.2f}x (best {best['eager'] / best['ours']:.2f}x)")
    for _, tmp in places:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
