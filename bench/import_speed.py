"""Import's speed goal (issue 13), measured side by side in one run; asserts nothing.

The file: torch.onnx.export of the hand-written torchvision-layout ResNet-152 (230 MB of
weights, batch norms kept as torch exports them with constant folding off). The goal: reading
it back as a spec (`archlang.from_onnx`: onnx.load, every node read as a layer, the graph
refolded into blocks and repeats, the text analysed and checked node for node against the
file, the weights mapped) in under 3 s. Beside it, in the same run and interleaved round by
round: `onnx.load` of the same file alone, the floor any ONNX reader pays.

    .venv/bin/python bench/import_speed.py [--rounds N]
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
from tests import reference_models as R  # noqa: E402


def export(path: Path) -> None:
    model = R.ResNet(R.Bottleneck, [3, 8, 36, 3]).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=False, do_constant_folding=False,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet152.onnx"
        start = time.perf_counter()
        export(path)
        print(f"exported {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s "
              "(torch.onnx.export, not timed below)")
        loads, imports = [], []
        imported = None
        for _ in range(args.rounds):
            start = time.perf_counter()
            onnx.load(str(path))
            loads.append(time.perf_counter() - start)
            start = time.perf_counter()
            imported = archlang.from_onnx(path, name="resnet152")
            imports.append(time.perf_counter() - start)
        load, imp = statistics.median(loads), statistics.median(imports)
        net = imported.network
        print(f"imported: {imported.lines} lines, {len(net.graph.layers)} layers, {net.total_params:,} params")
        print(f"onnx.load            median {load:.3f} s  (min {min(loads):.3f})")
        print(f"archlang.from_onnx   median {imp:.3f} s  (min {min(imports):.3f})  goal < 3 s: "
              f"{'met' if imp < 3 else 'NOT met'}")
        print(f"import / load        {imp / load:.2f}x; the import's own work {imp - load:.3f} s")
        print(imported.text)


if __name__ == "__main__":
    main()
