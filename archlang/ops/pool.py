"""Pooling: max and average windows, global pooling, adaptive average pooling.

Window pooling, per spatial axis:  O = floor((I + 2P - K) / S) + 1, defaults K = 2, S = K, P = 0,
and P <= K / 2 as PyTorch requires. Average pooling counts the zero padding (PyTorch's default).
Global pooling keeps the spatial axes at size 1 (as nn.AdaptiveAvgPool2d(1) does): Cx1x1.
Adaptive average pooling to N: bins start at floor(i*I/N) and end at ceil((i+1)*I/N).
No parameters, no MACs (the MAC convention counts convolutions and fc layers only).
torch: nn.MaxPool*d, nn.AvgPool*d, nn.AdaptiveAvgPool*d / nn.AdaptiveMaxPool*d (global: to 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import TensorType, compact, sizes_text
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Op, OpError, Window, axes, nd, need_spatial, register, window_out


def _need_spatial(op: str, x: TensorType) -> None:
    need_spatial(op, x, "pooling layers go before flatten")


@dataclass(frozen=True)
class _WindowPool(Op):
    family = Family.POOL
    kernel_suffix = True
    args = (
        Arg("k", "ints", 2, "window size"),
        Arg("stride", "ints", None, "step (default: the window size)"),
        Arg("pad", "ints0", 0, "padding per side, at most half the window"),
    )

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        _need_spatial(cls.name, x)
        k = axes(a["k"], x.rank, "k", cls.name)
        s = k if a["stride"] is None else axes(a["stride"], x.rank, "stride", cls.name)
        p = axes(a["pad"], x.rank, "pad", cls.name)
        if any(pi * 2 > ki for pi, ki in zip(p, k)):
            raise OpError(
                f"{cls.name}: padding {sizes_text(p)} is more than half the window {sizes_text(k)}",
                arg="pad",
                hint="PyTorch and ONNX allow at most k // 2 padding for pooling",
            )
        return cls(k, s, p)

    def infer(self, inputs):
        (x,) = inputs
        name = f"{self.name}{sizes_text(self.kernel_size)}"
        return TensorType(
            x.channels,
            tuple(window_out(name, *t) for t in zip(x.spatial, self.kernel_size, self.stride, self.padding)),
        )

    def window(self) -> Window:
        return Window(self.kernel_size, self.stride, self.padding, (1,) * len(self.kernel_size))

    def torch_spec(self, inputs):
        cls = nd("MaxPool" if self.name == "maxpool" else "AvgPool", len(self.kernel_size))
        return cls, (self.kernel_size,), {"stride": self.stride, "padding": self.padding}

    def onnx_nodes(self, g, inputs, output, types):
        attrs = {"kernel_shape": list(self.kernel_size), "strides": list(self.stride), "pads": list(self.padding) * 2}
        if self.name == "avgpool":
            g.node("AveragePool", inputs, [output], count_include_pad=1, **attrs)
        else:
            g.node("MaxPool", inputs, [output], **attrs)

    def label(self) -> str:
        text = f"{self.name} {sizes_text(self.kernel_size)}"
        if self.stride != self.kernel_size:
            text += " /" + compact(self.stride)
        if any(self.padding):
            text += ", pad " + compact(self.padding)
        return text


@register
@dataclass(frozen=True)
class MaxPool(_WindowPool):
    name = "maxpool"


@register
@dataclass(frozen=True)
class AvgPool(_WindowPool):
    name = "avgpool"


@dataclass(frozen=True)
class _GlobalPool(Op):
    family = Family.POOL
    rank: int

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        _need_spatial(cls.name, x)
        return cls(x.rank)

    def infer(self, inputs):
        return TensorType(inputs[0].channels, (1,) * self.rank)

    def window(self):
        return GLOBAL

    def torch_spec(self, inputs):
        return nd(self.torch_class, self.rank), ((1,) * self.rank,), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node(self.onnx_op, inputs, [output])


@register
@dataclass(frozen=True)
class GlobalAvgPool(_GlobalPool):
    name = "globalavgpool"
    torch_class = "AdaptiveAvgPool"
    onnx_op = "GlobalAveragePool"


@register
@dataclass(frozen=True)
class GlobalMaxPool(_GlobalPool):
    name = "globalmaxpool"
    torch_class = "AdaptiveMaxPool"
    onnx_op = "GlobalMaxPool"


@register
@dataclass(frozen=True)
class AdaptiveAvgPool(Op):
    name = "adaptiveavgpool"
    family = Family.POOL
    args = (Arg("size", "ints", REQUIRED, "the output size, e.g. adaptiveavgpool(7) gives Cx7x7"),)
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        _need_spatial(cls.name, x)
        return cls(x.spatial, axes(a["size"], x.rank, "size", cls.name))

    def infer(self, inputs):
        return TensorType(inputs[0].channels, self.output_size)

    def window(self) -> Window:
        # Bin o covers [floor(o*I/N), ceil((o+1)*I/N)). With I = qN + r, a bin is q + 1 or
        # q + 2 wide (q + 2 only when r exceeds gcd(r, N)), and neighbouring bins start q or
        # q + 1 apart: the widest bin and the smallest step, exact when N divides I and an
        # upper bound of the receptive field otherwise, in O(1) for any size.
        kernel, stride = [], []
        for i, n in zip(self.input_size, self.output_size):
            q, r = divmod(i, n)
            kernel.append(q if r == 0 else q + (2 if r > math.gcd(r, n) else 1))
            stride.append((i if n == 1 else q) or 1)
        zero = (0,) * len(kernel)
        return Window(tuple(kernel), tuple(stride), zero, (1,) * len(kernel))

    def torch_spec(self, inputs):
        return nd("AdaptiveAvgPool", len(self.output_size)), (self.output_size,), {}

    MAX_BINS_MATRIX = 2**22  # entries of one axis's I x N averaging matrix (16 MiB) in the ONNX file

    def onnx_nodes(self, g, inputs, output, types):
        # An exact multiple is plain average pooling. Otherwise adaptive pooling is linear per
        # axis, pooled one axis at a time (the last first): out = x @ A with A[i, o] = 1/|bin o|
        # over bin o, one MatMul moving the axis last; or, where A would be large, with prefix
        # sums: out[o] = (C[end_o - 1] - E[start_o]) / |bin o| from CumSum's inclusive C and
        # exclusive E, whose constants are O(N) (exact in real arithmetic, float32 rounding
        # grows with the axis length, which is why the small case keeps the matrix).
        if all(i % o == 0 for i, o in zip(self.input_size, self.output_size)):
            k = [i // o for i, o in zip(self.input_size, self.output_size)]
            g.node("AveragePool", inputs, [output], kernel_shape=k, strides=k)
            return
        import numpy as np

        rank = len(self.input_size)
        x = inputs[0]
        for step, axis in enumerate(reversed(range(rank))):
            size, out_size = self.input_size[axis], self.output_size[axis]
            result = output if step == rank - 1 else g.temp(f"p{step}")
            starts = np.array([(o * size) // out_size for o in range(out_size)], np.int64)
            ends = np.array([-(-((o + 1) * size) // out_size) for o in range(out_size)], np.int64)
            dim = 2 + axis
            if size * out_size > self.MAX_BINS_MATRIX:
                inclusive, exclusive = g.temp(f"c{step}"), g.temp(f"e{step}")
                where = g.const(f"axis{step}", np.array(dim, np.int64))
                g.node("CumSum", [x, where], [inclusive], suffix=f"c{step}")
                g.node("CumSum", [x, where], [exclusive], suffix=f"e{step}", exclusive=1)
                g.node("Gather", [inclusive, g.const(f"last{step}", ends - 1)], [g.temp(f"hi{step}")],
                       suffix=f"hi{step}", axis=dim)
                g.node("Gather", [exclusive, g.const(f"first{step}", starts)], [g.temp(f"lo{step}")],
                       suffix=f"lo{step}", axis=dim)
                g.node("Sub", [g.temp(f"hi{step}"), g.temp(f"lo{step}")], [g.temp(f"s{step}")], suffix=f"s{step}")
                widths = (ends - starts).astype(np.float32).reshape((out_size,) + (1,) * (rank - 1 - axis))
                g.node("Div", [g.temp(f"s{step}"), g.const(f"widths{step}", widths)], [result],
                       suffix="" if result == output else f"d{step}")
                x = result
                continue
            matrix = np.zeros((size, out_size), dtype=np.float32)
            for o in range(out_size):
                matrix[starts[o]:ends[o], o] = 1.0 / (ends[o] - starts[o])
            perm = list(range(2 + rank))
            perm[dim], perm[-1] = perm[-1], perm[dim]
            if axis != rank - 1:
                g.node("Transpose", [x], [g.temp(f"t{step}")], suffix=f"t{step}", perm=perm)
                x = g.temp(f"t{step}")
            pooled = g.temp(f"m{step}") if axis != rank - 1 else result
            g.node("MatMul", [x, g.const(f"bins{step}", matrix)], [pooled], suffix="" if pooled == output else f"m{step}")
            x = pooled
            if axis != rank - 1:
                g.node("Transpose", [x], [result], suffix="" if result == output else f"b{step}", perm=perm)
                x = result

    def label(self) -> str:
        return f"adaptiveavgpool {sizes_text(self.output_size)}"
