"""The transformers' speed goals (issue 12), measured side by side in one run; asserts nothing.

- forward of the built vit_b_16 / the hand-written torchvision-style reference (tests/
  reference_transformers.py, its weights loaded), batch 1 and 8; and of the built gpt2 / the
  hand-written nanoGPT-style reference at 1,024 tokens: goal at most 1.02. The estimator is
  zoo_speed's: the median of per-round paired ratios, built and reference timed in the same
  interleaved round, with their interquartile range;
- archlang's ONNX export of vit_b_16 against torch.onnx.export of the reference, in memory
  (tmpfs): goal at least 10x faster;
- ONNX Runtime latency of archlang's vit_b_16 graph against the torch-exported one, batch 1:
  goal at most 1.0, with a second session of archlang's graph as the control (this machine's
  noise).

    .venv/bin/python bench/transformer_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archlang  # noqa: E402
from archlang.benchmark import interleaved, ort_session  # noqa: E402
from tests import reference_transformers as ref  # noqa: E402


def paired(built, hand, x, rounds: int) -> dict:
    with torch.inference_mode():
        for _ in range(2):  # warm up: the allocator and the kernels' first calls
            built(x), hand(x)
        times = interleaved({"built": lambda: built(x), "hand": lambda: hand(x)}, rounds)
    ratios = [b / h for b, h in zip(times["built"], times["hand"])]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return {"ratio": statistics.median(ratios), "q1": q1, "q3": q3,
            "built_ms": statistics.median(times["built"]) * 1e3, "hand_ms": statistics.median(times["hand"]) * 1e3}


def show(label: str, r: dict) -> None:
    print(f"forward {label:24} built / reference {r['ratio']:.3f} (IQR {r['q1']:.3f}-{r['q3']:.3f})   "
          f"archlang {r['built_ms']:8.1f} ms   reference {r['hand_ms']:8.1f} ms   (goal <= 1.02)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=21, help="rounds at batch 1 (a third of them at batch 8)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {torch.get_num_threads()} threads")
    torch.manual_seed(0)
    vit_ref = ref.vit_b_16().eval()
    vit = archlang.build("vit_b_16", seed=0).eval()
    archlang.load_weights(vit, vit_ref)
    for batch, rounds in ((1, args.rounds), (8, max(5, args.rounds // 3))):
        show(f"vit_b_16 b={batch}", paired(vit, vit_ref, torch.randn(batch, 3, 224, 224), rounds))

    gpt_ref = ref.GPT().eval()
    gpt = archlang.build("gpt2", seed=0).eval()
    archlang.load_weights(gpt, gpt_ref)
    show("gpt2 b=1, 1024 tokens", paired(gpt, gpt_ref, torch.randint(0, 50257, (1, 1024)), max(5, args.rounds // 3)))
    del gpt, gpt_ref

    tmp = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        x = torch.randn(1, 3, 224, 224)
        ours, theirs = tmp / "archlang.onnx", tmp / "torch.onnx"

        def torch_export():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(vit_ref, (x,), str(theirs), dynamo=False, input_names=["input"],
                                  output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})

        times = interleaved({"archlang": lambda: archlang.export_onnx(vit, ours), "torch": torch_export}, 3)
        a, t = statistics.median(times["archlang"]), statistics.median(times["torch"])
        print(f"export vit_b_16 (tmpfs)         archlang {a * 1e3:8.1f} ms   torch.onnx.export {t * 1e3:8.1f} ms   "
              f"{t / a:5.1f}x faster  (goal >= 10x)")

        feed = {"input": x.numpy()}
        s_ours, s_theirs, s_control = (ort_session(str(p), 2) for p in (ours, theirs, ours))
        with torch.inference_mode():
            expected = vit(x).numpy()
        for s in (s_ours, s_theirs, s_control):
            assert np.abs(s.run(None, feed)[0] - expected).max() < 1e-3
            s.run(None, feed)
        times = interleaved({"ours": lambda: s_ours.run(None, feed), "theirs": lambda: s_theirs.run(None, feed),
                             "control": lambda: s_control.run(None, feed)}, args.rounds)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"ORT latency vit_b_16 b=1        archlang {med['ours'] * 1e3:8.1f} ms   torch's model {med['theirs'] * 1e3:8.1f} ms"
              f"   ratio {med['ours'] / med['theirs']:.3f}  (goal <= 1.0; control, archlang's against itself: "
              f"{med['ours'] / med['control']:.3f})")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
