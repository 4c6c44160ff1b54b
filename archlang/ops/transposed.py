"""Transposed convolution (`convtranspose`, alias `deconv`), 1D/2D/3D by the input's rank:
the gradient of a convolution with the same arguments, used to upsample (U-Net, FCN, GANs).

Shape, per spatial axis:  O = (I - 1)S - 2P + D(K - 1) + output_padding + 1
output_padding (default 0) adds rows at the far end only, to reach the size a strided
convolution came from; PyTorch requires it smaller than the stride or the dilation.
Parameters:  C_in * (C_out / G) * prod(K)  (+ C_out with bias); the weight is C_in x C_out/G x K.
MACs:        every input element meets C_out/G filters of prod(K) taps:
             C_in * prod(I) * (C_out / G) * prod(K), as torch's FlopCounterMode counts it (x2).
Receptive field: output unit o reads the inputs i with o = iS - P + kD, so the interval
[(o + P - D(K - 1))/S, (o + P)/S]: a window of stride 1/S, padding (D(K - 1) - P)/S and
extent D(K - 1)/S, in fractions (see analysis/receptive_field.py).
torch: nn.ConvTranspose1d/2d/3d, initialised by its own reset_parameters(): the weight
kaiming-uniform with a = sqrt(5) (fan-in C_out/G * prod(K), torch's count for this layout),
the bias U(-1/sqrt(fan-in), 1/sqrt(fan-in)). ONNX: ConvTranspose, with output_padding taken
from the end padding first (ONNX Runtime refuses output_padding >= stride).
"""

from __future__ import annotations

import math
from fractions import Fraction
from math import prod

from ..ir import TensorType, compact, sizes_text
from ..records import record
from .base import Arg, Bound, Family, Init, Op, OpError, StateTensor, Window, axes, nd, need_spatial, register
from .formula import Formula, maps, per_axis, product


def transposed_out(size: int, k: int, s: int, p: int, op_: int, d: int) -> int:
    """O = (I - 1)S - 2P + D(K - 1) + output_padding + 1; OpError below 1."""
    out = (size - 1) * s - 2 * p + d * (k - 1) + op_ + 1
    if out < 1:
        raise OpError(
            f"spatial size becomes {out} after convtranspose",
            detail=[f"O = (I - 1)S - 2P + D(K - 1) + output_padding + 1 = "
                    f"({size} - 1)*{s} - {2 * p} + {d}*({k} - 1) + {op_} + 1 = {out}"],
            arg="pad",
            hint=f"the padding ({p} per side) removes more than the layer adds; use less padding",
            kind="shape",
        )
    return out


@register
@record
class ConvTranspose(Op):
    name = "convtranspose"
    work_rule = "2 per multiply-accumulate, and 1 per output element for the bias"

    def work(self, inputs, out):
        return 2 * self.macs(inputs, out) + (out.numel if self.bias else 0)

    aliases = ("deconv",)
    family = Family.CONV
    output_overwritable = True  # backward reads its input, not its output
    kernel_suffix = True
    args = (
        Arg("c", "channels", None, "output channels (default: the input's)"),
        Arg("k", "ints", None, "kernel size, one number or one per spatial axis"),
        Arg("stride", "ints", 1, "the upsampling factor"),
        Arg("pad", "ints0", 0, "rows removed from each side of the output"),
        Arg("output_padding", "ints0", 0, "rows added at the far end, smaller than the stride or the dilation"),
        Arg("dilation", "ints", 1),
        Arg("groups", "int", 1),
        Arg("bias", "bool", True),
    )

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    bias: bool

    @classmethod
    def make(cls, a: Bound, x: TensorType) -> "ConvTranspose":
        need_spatial(cls.name, x, "transposed convolutions take CxL, CxHxW or CxDxHxW inputs")
        if a["k"] is None:
            raise OpError(
                f"{cls.name} needs a kernel size",
                hint="put it in the name (convtranspose2x2, convtranspose4) or pass it: convtranspose(64, k=2, stride=2)",
            )
        r = x.rank
        k = axes(a["k"], r, "k", cls.name)
        s = axes(a["stride"], r, "stride", cls.name)
        p = axes(a["pad"], r, "pad", cls.name)
        op_ = axes(a["output_padding"], r, "output_padding", cls.name)
        d = axes(a["dilation"], r, "dilation", cls.name)
        for oi, si, di in zip(op_, s, d):
            if oi >= si and oi >= di:
                raise OpError(
                    f"{cls.name}: output_padding {compact(op_)} must be smaller than the stride ({compact(s)}) "
                    f"or the dilation ({compact(d)})",
                    arg="output_padding",
                    hint="output_padding picks one of the S output sizes a strided convolution maps to the same "
                    f"input size: 0 to S - 1{', or to D - 1 with dilation D' if any(di > 1 for di in d) else ''}",
                )
        out = a["c"] if a["c"] is not None else x.channels
        g = a["groups"]
        if x.channels % g or out % g:
            raise OpError(
                f"{cls.name}: groups={g} must divide both the input channels ({x.channels}) "
                f"and the output channels ({out})",
                arg="groups",
                hint="each group maps C/G input channels to C'/G output channels; choose G dividing both",
            )
        return cls(x.channels, out, k, s, p, op_, d, g, a["bias"])

    def infer(self, inputs):
        (x,) = inputs
        if x.channels != self.in_channels or x.rank != len(self.kernel_size):
            raise OpError(f"{self.name} expects {self.in_channels} channels in {len(self.kernel_size)}D, got {x}")
        return TensorType(self.out_channels, tuple(
            transposed_out(*t) for t in
            zip(x.spatial, self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation)))


    def macs(self, inputs, out) -> int:
        return inputs[0].numel * (self.out_channels // self.groups) * prod(self.kernel_size)

    def window(self) -> Window:
        # o reads [(o + P - D(K - 1))/S, (o + P)/S]: the window with stride 1/S, left end
        # (D(K - 1) - P)/S before o/S, and D(K - 1)/S wide
        span = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
        return Window(
            tuple(Fraction(w, s) + 1 for w, s in zip(span, self.stride)),
            tuple(Fraction(1, s) for s in self.stride),
            tuple(Fraction(w - p, s) for w, p, s in zip(span, self.padding, self.stride)),
            (1,) * len(span),
        )

    def tensors(self):
        k = self.kernel_size
        weight = StateTensor("weight", (self.in_channels, self.out_channels // self.groups, *k))
        return (weight, StateTensor("bias", (self.out_channels,))) if self.bias else (weight,)

    # torch's own ConvTranspose reset_parameters(); `fans` reads dimension 1 as the fan-in,
    # which for this layout is C_out/G * prod(K), as torch counts it
    init = (Init("weight", "kaiming_uniform", a=math.sqrt(5)), Init("bias", "fan_in_uniform", of="weight"))
    init_is_torch_default = True

    def torch_spec(self, inputs):
        kwargs = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}
        if any(self.output_padding):
            kwargs["output_padding"] = self.output_padding
        if self.groups != 1:
            kwargs["groups"] = self.groups
        kwargs["bias"] = self.bias
        if any(d != 1 for d in self.dilation):
            kwargs["dilation"] = self.dilation
        return nd("ConvTranspose", len(self.kernel_size)), (self.in_channels, self.out_channels), kwargs

    def onnx_nodes(self, g, inputs, output, types):
        # output_padding E adds rows at the far end. ONNX Runtime refuses E >= S (PyTorch allows
        # it below the dilation), so E is taken from the end padding first (pads P, P - E:
        # the same rows), and only the rest R = E - P, where E > P, as output_padding. Rows
        # past the full transposed output are the bias alone: where R >= S they are added
        # with Pad (zeros) and the bias after it.
        ends = [max(p - e, 0) for p, e in zip(self.padding, self.output_padding)]
        rest = [max(e - p, 0) for p, e in zip(self.padding, self.output_padding)]
        attrs = dict(kernel_shape=list(self.kernel_size), strides=list(self.stride), pads=[*self.padding, *ends],
                     dilations=list(self.dilation), group=self.groups)
        bias = [g.weight("bias")] if self.bias else []
        if all(r < s for r, s in zip(rest, self.stride)):
            if any(rest):
                attrs["output_padding"] = rest
            g.node("ConvTranspose", [inputs[0], g.weight("weight"), *bias], [output], **attrs)
            return
        import numpy as np

        rank = len(self.kernel_size)
        g.node("ConvTranspose", [inputs[0], g.weight("weight")], [g.temp("full")], suffix="full", **attrs)
        padded = g.temp("padded") if self.bias else output
        g.node("Pad", [g.temp("full"), g.const("pads", np.array([0] * (2 + rank) + [0, 0, *rest], np.int64))],
               [padded], suffix="padded" if self.bias else "")
        if self.bias:
            shape = g.const("bias_shape", np.array([self.out_channels, *(1,) * rank], np.int64))
            g.node("Reshape", [bias[0], shape], [g.temp("bias")], suffix="bias")
            g.node("Add", [padded, g.temp("bias")], [output])

    def explain_shape(self, inputs, out):
        (x,) = inputs
        lines = per_axis([
            Formula(f"({i} - 1) x {s} - {2 * p} + {d} x ({k} - 1) + {e} + 1", (i - 1) * s - 2 * p + d * (k - 1) + e + 1,
                    "O = (I - 1)S - 2P + D(K - 1) + output_padding + 1")
            for i, k, s, p, e, d in zip(x.spatial, self.kernel_size, self.stride, self.padding, self.output_padding,
                                        self.dilation)])
        return (Formula("", self.out_channels, "C", "the number of filters", (0,)), *lines)

    def explain_channels(self, inputs, out):
        each = self.out_channels // self.groups
        text = (f"each of the {self.in_channels} input channels spreads a {sizes_text(self.kernel_size)} stamp into "
                f"{each} output channels; {maps(out)}")
        if self.groups > 1:
            text += f"; in {self.groups} groups of {self.in_channels // self.groups} input channels"
        return text

    def explain_params(self):
        each = self.out_channels // self.groups
        weights = self.in_channels * each * prod(self.kernel_size)
        numbers = f"{self.in_channels} x ({product((each, *self.kernel_size))})"
        if self.bias:
            return Formula(numbers + f" + {self.out_channels} biases", weights + self.out_channels)
        return Formula(numbers, weights, note="no bias")

    def explain_macs(self, inputs, out):
        (x,) = inputs
        each = self.out_channels // self.groups
        return Formula(f"{product(x.shape)} inputs x ({product((each, *self.kernel_size))})",
                       x.numel * each * prod(self.kernel_size),
                       note="every input element meets C_out/G filters of K taps")

    def label(self) -> str:
        text = f"convtranspose {sizes_text(self.kernel_size)}"
        text += f", {self.out_channels}"
        if any(s != 1 for s in self.stride):
            text += ", stride " + compact(self.stride)
        if any(self.padding):
            text += ", pad " + compact(self.padding)
        if any(self.output_padding):
            text += ", output_padding " + compact(self.output_padding)
        if any(d != 1 for d in self.dilation):
            text += ", dilation " + compact(self.dilation)
        if self.groups != 1:
            text += f", groups {self.groups}"
        return text
