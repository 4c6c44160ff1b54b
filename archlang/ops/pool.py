"""Pooling: max and average windows, global pooling, adaptive average pooling.

Window pooling, per spatial axis:  O = floor((I + 2P - K) / S) + 1, defaults K = 2, S = K, P = 0,
and P <= K / 2 as PyTorch requires. ceil_mode=true rounds up instead (GoogLeNet, SqueezeNet):
O = ceil((I + 2P - K) / S) + 1, less one where the last window would start past the input and
its left padding ((O - 1)S >= I + P), PyTorch's rule; that last window is cut at the edge.
Average pooling counts the zero padding (PyTorch's default, count_include_pad=true) but
never the cells a ceil-mode window hangs past the padding; count_include_pad=false averages
over the input cells alone.
Global pooling keeps the spatial axes at size 1 (as nn.AdaptiveAvgPool2d(1) does): Cx1x1.
Adaptive average pooling to N: bins start at floor(i*I/N) and end at ceil((i+1)*I/N); its
receptive-field window has the fractional stride I/N (below 1 when it enlarges the map).
No parameters, no MACs (the MAC convention counts convolutions and fc layers only).
torch: nn.MaxPool*d, nn.AvgPool*d, nn.AdaptiveAvgPool*d / nn.AdaptiveMaxPool*d (global: to 1).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..ir import TensorType, compact, sizes_text
from ..records import record
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Op, OpError, Window, axes, nd, need_spatial, register, window_out
from .formula import Formula, maps, per_axis, window_rule


def _need_spatial(op: str, x: TensorType) -> None:
    need_spatial(op, x, "pooling layers go before flatten")


@record
class _WindowPool(Op):
    family = Family.POOL
    kernel_suffix = True
    args = (
        Arg("k", "ints", 2, "window size"),
        Arg("stride", "ints", None, "step (default: the window size)"),
        Arg("pad", "ints0", 0, "padding per side, at most half the window"),
        Arg("ceil_mode", "bool", False, "round the output size up: a last, partial window"),
    )

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    ceil_mode: bool

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
        return cls(k, s, p, a["ceil_mode"], *cls._extra(a))

    @classmethod
    def _extra(cls, a: Bound) -> tuple:
        return ()

    def infer(self, inputs):
        (x,) = inputs
        name = f"{self.name}{sizes_text(self.kernel_size)}"
        return TensorType(x.channels, tuple(
            window_out(name, i, k, s, p, ceil=self.ceil_mode)
            for i, k, s, p in zip(x.spatial, self.kernel_size, self.stride, self.padding)))

    def window(self) -> Window:
        return Window(self.kernel_size, self.stride, self.padding, (1,) * len(self.kernel_size))

    def torch_kwargs(self) -> dict:
        kwargs = {"stride": self.stride, "padding": self.padding}
        if self.ceil_mode:
            kwargs["ceil_mode"] = True
        return kwargs

    def torch_spec(self, inputs):
        return nd(self.torch_class, len(self.kernel_size)), (self.kernel_size,), self.torch_kwargs()

    def onnx_attrs(self) -> dict:
        return {"kernel_shape": list(self.kernel_size), "strides": list(self.stride), "pads": list(self.padding) * 2,
                "ceil_mode": int(self.ceil_mode)}

    def onnx_nodes(self, g, inputs, output, types):
        (x,) = types
        out = self.infer(types).spatial
        # ONNX's shape inference rounds up without PyTorch's rule that drops a last window
        # starting past the input and its padding (ONNX Runtime drops it when it runs): there,
        # pool in ceil mode and slice the axes back to PyTorch's size, so both agree
        ceiled = [-(-(i + 2 * p - k) // s) + 1 for i, k, s, p in zip(x.spatial, self.kernel_size, self.stride, self.padding)]
        if not self.ceil_mode or list(out) == ceiled:
            g.node(self.onnx_op, inputs, [output], **self.onnx_attrs())
            return
        import numpy as np

        g.node(self.onnx_op, inputs, [g.temp("ceiled")], suffix="ceiled", **self.onnx_attrs())
        rank = len(out)
        g.node("Slice", [g.temp("ceiled"), g.const("starts", np.zeros(rank, np.int64)),
                         g.const("ends", np.array(out, np.int64)), g.const("axes", np.arange(2, 2 + rank, dtype=np.int64))],
               [output])

    def explain_shape(self, inputs, out):
        (x,) = inputs
        return per_axis([window_rule(i, k, s, p, ceil=self.ceil_mode)
                         for i, k, s, p in zip(x.spatial, self.kernel_size, self.stride, self.padding)])

    def explain_channels(self, inputs, out):
        return f"each map pooled on its own, {sizes_text(self.kernel_size)} windows: {maps(out)}"

    def label(self) -> str:
        text = f"{self.name} {sizes_text(self.kernel_size)}"
        if self.stride != self.kernel_size:
            text += " /" + compact(self.stride)
        if any(self.padding):
            text += ", pad " + compact(self.padding)
        if self.ceil_mode:
            text += ", ceil"
        return text


@register
@record
class MaxPool(_WindowPool):
    name = "maxpool"
    work_rule = "K - 1 compares per output (K the window's elements)"

    def work(self, inputs, out):
        return out.numel * (math.prod(self.kernel_size) - 1)

    torch_class = "MaxPool"
    onnx_op = "MaxPool"


@register
@record
class AvgPool(_WindowPool):
    name = "avgpool"
    work_rule = "K per output: K - 1 adds and a divide (K the window's elements)"

    def work(self, inputs, out):
        return out.numel * math.prod(self.kernel_size)

    torch_class = "AvgPool"
    onnx_op = "AveragePool"
    args = (*_WindowPool.args, Arg("count_include_pad", "bool", True, "divide by the window with its zero padding"))
    count_include_pad: bool = True

    @classmethod
    def _extra(cls, a: Bound) -> tuple:
        return (a["count_include_pad"],)

    def torch_kwargs(self) -> dict:
        kwargs = super().torch_kwargs()
        if not self.count_include_pad:
            kwargs["count_include_pad"] = False
        return kwargs

    def onnx_attrs(self) -> dict:
        return {**super().onnx_attrs(), "count_include_pad": int(self.count_include_pad)}

    def label(self) -> str:
        return super().label() + (", pad not counted" if not self.count_include_pad and any(self.padding) else "")


@record
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

    def explain_shape(self, inputs, out):
        return (Formula("", 1, "O", "global: each whole map becomes one value", tuple(range(1, self.rank + 1))),)

    def explain_channels(self, inputs, out):
        return f"one value per channel: {maps(out)}"

    def torch_spec(self, inputs):
        return nd(self.torch_class, self.rank), ((1,) * self.rank,), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node(self.onnx_op, inputs, [output])


@register
@record
class GlobalAvgPool(_GlobalPool):
    name = "globalavgpool"
    work_rule = "1 per input element: H x W - 1 adds and a divide per channel"

    def work(self, inputs, out):
        return inputs[0].numel

    torch_class = "AdaptiveAvgPool"
    onnx_op = "GlobalAveragePool"


@register
@record
class GlobalMaxPool(_GlobalPool):
    name = "globalmaxpool"
    work_rule = "H x W - 1 compares per channel"

    def work(self, inputs, out):
        return inputs[0].numel - out.numel

    torch_class = "AdaptiveMaxPool"
    onnx_op = "GlobalMaxPool"


@register
@record
class AdaptiveAvgPool(Op):
    name = "adaptiveavgpool"
    work_rule = ("each output's window size (its adds and a divide); windows from floor(i I / O) to "
                 "ceil((i + 1) I / O) per axis")

    def work(self, inputs, out):
        total = out.channels
        for i, o in zip(self.input_size, self.output_size):
            total *= sum(-(-(j + 1) * i // o) - j * i // o for j in range(o))
        return total

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
        # Bin o covers [floor(o*a), ceil((o+1)*a) - 1] with a = I/N, a fraction p/q. Every o*a
        # is a multiple of 1/q, so floor(o*a) >= o*a - (1 - 1/q) and ceil((o+1)*a) <= (o+1)*a
        # + (1 - 1/q), both reached: the tightest window moving a per bin has stride a,
        # padding 1 - 1/q and extent a + 1 - 2/q (q = 1: the exact window a, a, 0). Its floor
        # is the widest bin, O(1) for any size; enlarging (N > I) gives a jump below 1.
        kernel, stride, padding = [], [], []
        for i, n in zip(self.input_size, self.output_size):
            a = Fraction(i, n)
            edge = 1 - Fraction(1, a.denominator)
            kernel.append(a + 2 * edge)
            stride.append(a)
            padding.append(edge)
        return Window(tuple(kernel), tuple(stride), tuple(padding), (1,) * len(kernel))

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

    def explain_shape(self, inputs, out):
        return per_axis([Formula("", n, "O = size", f"bin o averages inputs floor(o x I/O) to ceil((o + 1) x I/O) - 1, "
                                 f"I/O = {Fraction(i, n)}")
                         for i, n in zip(self.input_size, self.output_size)])

    def explain_channels(self, inputs, out):
        return f"each map averaged over {sizes_text(self.output_size)} bins: {maps(out)}"

    def label(self) -> str:
        return f"adaptiveavgpool {sizes_text(self.output_size)}"
