"""Round trips through ONNX for every kind of bundled network, with both exporters (too slow for
the test suite, which round-trips every network through from_torch, every op through archlang's
ONNX, and a few networks through each exporter).

For each: export the spec with archlang's exporter, and the built module with torch.onnx.export
(TorchScript exporter, constant folding off so that batch norms stay batch norms), import each
file, and check that the imported spec is the bundled network layer for layer (dropout and
stochastic depth aside: an exported graph at inference has neither). Prints a table and the
times; asserts nothing.

    .venv/bin/python bench/import_roundtrip.py [NAME ...]
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings
from pathlib import Path

import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archlang  # noqa: E402
from archlang.importer import same_graph  # noqa: E402
from tests.conftest import KINDS  # noqa: E402


@contextlib.contextmanager
def quiet():
    """torch prints its whole TorchScript graph when it cannot export a network: not here."""
    sys.stdout.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def main(names: list[str]) -> None:
    warnings.filterwarnings("ignore")
    print(f"{'network':24} {'archlang export':18} {'torch.onnx.export':44} {'export':>8} {'import':>8}")
    for name in names:
        net = archlang.load(name).network(name)
        types = [n.type for n in net.graph.inputs]
        # an N x L x D input is a sequence only when the import is told so; token ids are integers
        shape = str(types[0]) if types[0].tokens else None
        try:
            own = archlang.from_onnx(archlang.export_onnx(net, seed=0), name=name, input_shape=shape)
            own_result = "the same graph" if same_graph(own.network.graph, net.graph,
                                                        ignoring=("dropout", "stochasticdepth")) else "A DIFFERENT GRAPH"
        except archlang.ArchError as err:
            own_result = "error: " + err.message[:40]
        start = time.perf_counter()
        module = archlang.build(net, seed=0).eval()
        buffer = io.BytesIO()
        example = tuple(torch.zeros(1, *t.shape, dtype=torch.long) if t.ids else torch.randn(1, *t.shape) for t in types)
        try:
            with quiet():
                torch.onnx.export(module, example, buffer, dynamo=False, do_constant_folding=False)
        except Exception as err:  # torch's own limits (aten::channel_shuffle has no ONNX form)
            print(f"{name:24} {own_result:18} {'torch cannot export it: ' + str(err).splitlines()[0][:40]}")
            continue
        exported = time.perf_counter() - start
        start = time.perf_counter()
        try:
            imported = archlang.from_onnx(onnx.load_from_string(buffer.getvalue()), name=name, input_shape=shape)
            same = same_graph(imported.network.graph, net.graph, ignoring=("dropout", "stochasticdepth"))
            result = f"the same graph, {imported.lines} lines" if same else "A DIFFERENT GRAPH"
        except archlang.ArchError as err:
            result = "error: " + err.message[:60]
        except Exception as err:  # a bug in the importer: said, and the next network goes on
            result = f"BUG: {type(err).__name__}: {err}"[:60]
        print(f"{name:24} {own_result:18} {result:44} {exported:7.2f}s {time.perf_counter() - start:7.2f}s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or KINDS)
