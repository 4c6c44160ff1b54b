"""Convolution, 1D/2D/3D by the input's spatial rank, and its depthwise spelling `dwconv`.

Shape, per spatial axis:  O = floor((I + 2P - D(K - 1) - 1) / S) + 1
Parameters:  C_out * (C_in / G) * prod(K)  (+ C_out with bias)
MACs:        C_out * prod(O) * (C_in / G) * prod(K)
Receptive field:  window K, stride S, padding P, dilation D.
Default padding is D * (K // 2) per axis for odd kernels: the output keeps the input's size at
stride 1 ("same"), as VGG and ResNet pad. An even kernel has no centred padding (PyTorch's
padding="same" pads one side more), so it has no default: `pad` must be given.
dwconv: conv with groups = C (each channel filtered on its own); its `c` must be a multiple
of C (the channel multiplier c / C).
torch: nn.Conv1d/2d/3d. Initialisation as torchvision's VGG and ResNet: weights
kaiming-normal (fan_out, ReLU gain), bias zero.
"""

from __future__ import annotations

from math import prod

from ..ir import TensorType, compact, sizes_text
from ..records import record
from .base import Arg, Bound, Family, Init, Op, OpError, StateTensor, Window, axes, nd, need_spatial, register, window_out
from .formula import Formula, maps, per_axis, product, window_rule


def same_padding(k: tuple[int, ...], d: tuple[int, ...]) -> tuple[int, ...]:
    """D * (K // 2) per axis: keeps the size at stride 1 for odd kernels."""
    return tuple(di * (ki // 2) for ki, di in zip(k, d))


@register
@record
class Conv(Op):
    name = "conv"
    work_rule = "2 per multiply-accumulate, and 1 per output element for the bias"

    def work(self, inputs, out):
        return 2 * self.macs(inputs, out) + (out.numel if self.bias else 0)

    family = Family.CONV
    output_overwritable = True  # backward reads its input, not its output
    kernel_suffix = True
    groups_in_label = True
    args = (
        Arg("c", "channels", None, "output channels (default: the input's)"),
        Arg("k", "ints", None, "kernel size, one number or one per spatial axis"),
        Arg("stride", "ints", 1),
        Arg("pad", "ints0", None, "zero padding per side (default for odd kernels: dilation * (k // 2))"),
        Arg("dilation", "ints", 1),
        Arg("groups", "int", 1),
        Arg("bias", "bool", True),
    )

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    bias: bool

    @classmethod
    def make(cls, a: Bound, x: TensorType) -> "Conv":
        need_spatial(cls.name, x, "convolutions take CxL, CxHxW or CxDxHxW inputs; use fc after flatten")
        window = cls._window_args(a, x)
        out = a["c"] if a["c"] is not None else x.channels
        g = a["groups"]
        if x.channels % g or out % g:
            raise OpError(
                f"conv: groups={g} must divide both the input channels ({x.channels}) and the output channels ({out})",
                arg="groups",
            )
        return cls(x.channels, out, *window, g, a["bias"])

    @classmethod
    def _window_args(cls, a: Bound, x: TensorType) -> tuple[tuple[int, ...], ...]:
        """(kernel, stride, padding, dilation) resolved against `x`."""
        if a["k"] is None:
            raise OpError(
                f"{cls.name} needs a kernel size",
                hint=f"put it in the name ({cls.name}3x3, {cls.name}5) or pass it: {cls.name}(64, k=3)",
            )
        k = axes(a["k"], x.rank, "k", cls.name)
        d = axes(a["dilation"], x.rank, "dilation", cls.name)
        pad = a["pad"]
        if pad is None:
            even = [ki for ki in k if ki % 2 == 0]
            if even:
                raise OpError(
                    f"{cls.name}: the kernel {sizes_text(k)} is even-sized, so it has no centred padding and no default",
                    arg="k",
                    hint=f"give the padding: pad=0 shrinks each axis by {even[0] - 1} at stride 1 "
                    f"(and a stride equal to the kernel cuts the input into patches), pad={even[0] // 2} grows it by 1",
                )
            p = same_padding(k, d)
        else:
            p = axes(pad, x.rank, "pad", cls.name)
        return k, axes(a["stride"], x.rank, "stride", cls.name), p, d

    def infer(self, inputs):
        (x,) = inputs
        if x.channels != self.in_channels or x.rank != len(self.kernel_size):
            raise OpError(f"{self.name} expects {self.in_channels} channels in {len(self.kernel_size)}D, got {x}")
        name = f"{self.name}{sizes_text(self.kernel_size)}"
        return TensorType(
            self.out_channels,
            tuple(window_out(name, *t) for t in zip(x.spatial, self.kernel_size, self.stride, self.padding, self.dilation)),
        )


    def macs(self, inputs, out) -> int:
        return out.numel * (self.in_channels // self.groups) * prod(self.kernel_size)

    def window(self) -> Window:
        return Window(self.kernel_size, self.stride, self.padding, self.dilation)

    def tensors(self):
        weight = StateTensor("weight", (self.out_channels, self.in_channels // self.groups, *self.kernel_size))
        return (weight, StateTensor("bias", (self.out_channels,))) if self.bias else (weight,)

    init = (Init("weight", "kaiming_normal", mode="fan_out", nonlinearity="relu"), Init("bias", "zeros"))

    def torch_spec(self, inputs):
        kwargs = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}
        if any(d != 1 for d in self.dilation):
            kwargs["dilation"] = self.dilation
        if self.groups != 1:
            kwargs["groups"] = self.groups
        kwargs["bias"] = self.bias
        return nd("Conv", len(self.kernel_size)), (self.in_channels, self.out_channels), kwargs

    def onnx_nodes(self, g, inputs, output, types):
        weights = [inputs[0], g.weight("weight")] + ([g.weight("bias")] if self.bias else [])
        g.node("Conv", weights, [output], kernel_shape=list(self.kernel_size), strides=list(self.stride),
               pads=list(self.padding) * 2, dilations=list(self.dilation), group=self.groups)

    def explain_shape(self, inputs, out):
        (x,) = inputs
        lines = per_axis([window_rule(*t) for t in zip(x.spatial, self.kernel_size, self.stride, self.padding,
                                                        self.dilation)])
        return (Formula("", self.out_channels, "C", "the number of filters", (0,)), *lines)

    def explain_channels(self, inputs, out):
        seen = self.in_channels // self.groups
        text = (f"{self.out_channels} filters of {sizes_text((seen, *self.kernel_size))}, one per output feature "
                f"map: {maps(out)}")
        if self.groups == self.in_channels and self.groups > 1:
            each = self.out_channels // self.in_channels
            return text + (f"; depthwise: each of the {self.in_channels} input channels is filtered on its own, "
                           f"by {each} filter{'s' if each != 1 else ''}")
        if self.groups > 1:
            text += (f"; in {self.groups} groups: each filter sees in_c/groups = {self.in_channels}/{self.groups} "
                     f"= {seen} of the {self.in_channels} input channels")
        return text

    def explain_params(self):
        seen = self.in_channels // self.groups
        weights = self.out_channels * seen * prod(self.kernel_size)
        numbers = f"{self.out_channels} x ({product((seen, *self.kernel_size))})"
        if self.bias:
            return Formula(numbers + f" + {self.out_channels} biases", weights + self.out_channels)
        return Formula(numbers, weights, note="no bias")

    def explain_macs(self, inputs, out):
        seen = self.in_channels // self.groups
        return Formula(f"{product(out.shape)} outputs x ({product((seen, *self.kernel_size))})",
                       out.numel * seen * prod(self.kernel_size))

    def label(self) -> str:
        text = f"{self.name} {sizes_text(self.kernel_size)}"
        if any(s != 1 for s in self.stride):
            text += " /" + compact(self.stride)
        text += f", {self.out_channels}"
        if self.padding != same_padding(self.kernel_size, self.dilation):
            text += ", pad " + compact(self.padding)
        if any(d != 1 for d in self.dilation):
            text += ", dilation " + compact(self.dilation)
        if self.groups != 1 and self.groups_in_label:
            text += f", groups {self.groups}"
        return text


@register
@record
class DepthwiseConv(Conv):
    """`dwconv3x3(stride=2)`: conv with one group per input channel (groups = C), each
    channel filtered on its own; `c` (default C) must be a multiple of C, the channel
    multiplier c / C (MobileNet, EfficientNet, ConvNeXt's 7x7)."""

    name = "dwconv"
    groups_in_label = False  # always C: the name says it
    args = tuple(arg for arg in Conv.args if arg.name != "groups")

    @classmethod
    def make(cls, a: Bound, x: TensorType) -> "DepthwiseConv":
        need_spatial(cls.name, x, "convolutions take CxL, CxHxW or CxDxHxW inputs; use fc after flatten")
        window = cls._window_args(a, x)
        out = a["c"] if a["c"] is not None else x.channels
        if out % x.channels:
            raise OpError(
                f"dwconv: the output channels ({out}) must be a multiple of the input channels ({x.channels})",
                arg="c",
                hint=f"each input channel gets c / C filters of its own: c={x.channels} (one each), "
                f"{2 * x.channels} (two each), ...; conv(c, groups=G) groups channels freely",
            )
        return cls(x.channels, out, *window, x.channels, a["bias"])
