"""Import from ONNX: archlang's own form of an adaptive average pool to sizes that do not
divide its input. Adaptive pooling is linear per axis, so archlang's exporter pools one axis
at a time, the last first, as a MatMul by that axis's averaging matrix (A[i, o] = 1 / |bin o|
over bin o), moving the axis last with a Transpose and back. These rules read that back: a
MatMul of a map by a constant that is exactly such a matrix pools one axis (`partial`), a
Transpose that moves an axis last is a view (`permuted`), and once every spatial axis is
pooled and in place, the whole is one `adaptiveavgpool` layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .flat import FlatGraph
from .onnx_layers import perm, source

__all__ = ["AdaptivePoolRules", "averaging_matrix"]


def averaging_matrix(size: int, out: int) -> np.ndarray:
    """The I x O matrix of adaptive average pooling along one axis (PyTorch's bins)."""
    matrix = np.zeros((size, out), dtype=np.float64)
    for o in range(out):
        start, end = (o * size) // out, -(-((o + 1) * size) // out)
        matrix[start:end, o] = 1.0 / (end - start)
    return matrix


class AdaptivePoolRules:
    """Rules of `onnx_reader._Reader` for archlang's adaptive pools (see there for its state)."""

    fg: FlatGraph
    consts: dict[str, Any]

    def _pooled(self, value: str):
        """(the map pooled, {axis: output size}) for a value that is a partly pooled map."""
        if value in self.partial:
            return self.partial[value]
        x = self.fg.value(value)
        return (x, {}) if x in self.fg.types and self.fg.types[x].rank else None

    def matmul_pool(self, node) -> str | None:
        """One axis of an adaptive pool, or why this MatMul of a map is not one."""
        value, order = node.input[0], None
        if value in self.permuted:
            value, order = self.permuted[value]
        pooled = self._pooled(value)
        bins = self.consts.get(node.input[1])
        if pooled is None or bins is None or bins.ndim != 2:
            return "a product of a map by something other than an averaging matrix"
        x, done = pooled
        t = self.fg.types[x]
        axis = (order.index(len(order) - 1) if order else t.rank + 1) - 2  # the spatial axis now last
        size = t.spatial[axis]
        if axis in done or bins.shape[0] != size or not np.allclose(bins, averaging_matrix(size, bins.shape[1]),
                                                                    atol=1e-6):
            return "a product of a map by something other than an averaging matrix"
        done = {**done, axis: int(bins.shape[1])}
        if order:
            self.permuted[node.output[0]] = (node.output[0] + "::pooled", order)
            self.partial[node.output[0] + "::pooled"] = (x, done)
        else:
            self.partial[node.output[0]] = (x, done)
            self._complete(node, node.output[0])
        return None

    def op_Transpose(self, node, a):
        order = perm(node)
        value = node.input[0]
        if value in self.permuted and self.permuted[value][1] == order:  # moved back: the swap undone
            inner = self.permuted[value][0]
            self.partial[node.output[0]] = self.partial[inner]
            self._complete(node, node.output[0])
            return None
        pooled = self._pooled(value)
        rank = len(order) - 2
        swapped = [k for k in range(len(order)) if order[k] != k]
        if pooled is None or rank < 1 or len(swapped) != 2 or swapped[1] != len(order) - 1 or swapped[0] < 2:
            return "a transpose archlang has no layer for"
        self.permuted[node.output[0]] = (value, order)  # an axis moved last, to be pooled
        return None

    def _complete(self, node, value: str) -> None:
        """Every spatial axis pooled: the adaptive pool layer, under `value`."""
        x, done = self.partial[value]
        t = self.fg.types[x]
        if set(done) != set(range(t.rank)):
            return
        del self.partial[value]
        self.fg.add(value, "adaptiveavgpool", [x], where=node.name, source=source(node, []),
                    size=tuple(done[k] for k in range(t.rank)))
