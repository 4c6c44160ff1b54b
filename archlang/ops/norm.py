"""Normalisation layers. All keep the shape; for the receptive field they count as pointwise
(their statistics are not counted as spatial mixing, as Araujo et al. also do).

bn:        batch norm over channels (BatchNorm1d for C and CxL, 2d for CxHxW, 3d for CxDxHxW).
           Parameters 2C (weight and bias); the running mean and variance are buffers, not counted.
lrn:       local response norm across channels, b = a / (k + alpha/n * sum a^2)^beta
           (AlexNet's n=5, alpha=1e-4, beta=0.75, k=2 by default). No parameters.
layernorm: over every non-batch axis (nn.LayerNorm(shape), ONNX LayerNormalization axis=1),
           elementwise weight and bias: parameters 2 * C * prod(spatial). On a token sequence
           over each token's features (nn.LayerNorm(D), as every transformer): parameters 2D.
groupnorm: G groups of channels, per-channel weight and bias: parameters 2C.
layernorm2d: over the channels alone, at every position (ConvNeXt's; torchvision's
           LayerNorm2d, for any spatial rank), per-channel weight and bias: parameters 2C.
torch: nn.BatchNorm*d, nn.LocalResponseNorm, nn.LayerNorm, nn.GroupNorm, and archlang's
LayerNorm2d (ops/modules.py: nn.LayerNorm(C) with the channels moved last and back); weights
start at 1 and biases at 0 (their reset_parameters(), torchvision's rule), running statistics
at 0 and 1. ONNX: layernorm2d is Transpose (channels last), LayerNormalization over the last
axis, Transpose back (LayerNormalization at axis 1 would normalise C, H and W together).
"""

from __future__ import annotations

import math

from ..ir import TensorType
from ..records import record
from .base import REQUIRED, Arg, Bound, Family, Init, Op, OpError, StateTensor, nd, need_spatial, register
from .formula import Formula, maps, product


@register
@record
class BatchNorm(Op):
    name = "bn"
    work_rule = ("4 per element ((x - mean) / sqrt(var + eps) * weight + bias: subtract, divide, multiply, add) "
                 "and 2 per channel (add eps, square root)")

    def work(self, inputs, out):
        return 4 * out.numel + 2 * self.num_features

    family = Family.NORM
    output_overwritable = True  # backward reads its input, not its output
    aliases = ("batchnorm",)
    args = (Arg("eps", "pos_float", 1e-5), Arg("momentum", "prob", 0.1))
    num_features: int
    rank: int
    eps: float
    momentum: float

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls(x.channels, x.rank, a["eps"], a["momentum"])


    def tensors(self):
        c = (self.num_features,)
        return (StateTensor("weight", c), StateTensor("bias", c), StateTensor("running_mean", c, buffer=True),
                StateTensor("running_var", c, buffer=True), StateTensor("num_batches_tracked", (), True, "int64"))

    init = (Init("weight", "ones"), Init("bias", "zeros"), Init("running_mean", "zeros"), Init("running_var", "ones"),
            Init("num_batches_tracked", "zeros"))

    def explain_params(self):
        c = self.num_features
        return Formula(f"2 x {c} (scale, shift)", 2 * c, note=f"plus 2 x {c} running statistics, not trained")

    def explain_channels(self, inputs, out):
        return f"each channel normalised by its batch statistics, then scaled and shifted: {maps(out)}"
    init_is_torch_default = True

    def torch_spec(self, inputs):
        return nd("BatchNorm", self.rank), (self.num_features,), {"eps": self.eps, "momentum": self.momentum}

    def onnx_nodes(self, g, inputs, output, types):
        stats = [g.weight(t) for t in ("weight", "bias", "running_mean", "running_var")]
        # ONNX's momentum is the old statistics' share: torch's 0.1 is 0.9 there (a training attribute)
        g.node("BatchNormalization", [inputs[0], *stats], [output], epsilon=self.eps, momentum=1.0 - self.momentum)


@register
@record
class LRN(Op):
    name = "lrn"
    work_rule = "size + 5 per element: square, sum over the window, * alpha/size, + k, ^beta, divide"

    def work(self, inputs, out):
        return (self.size + 5) * out.numel

    family = Family.NORM
    output_overwritable = True  # backward reads its input, not its output
    args = (
        Arg("size", "int", 5, "channels in each window"),
        Arg("alpha", "float", 1e-4),
        Arg("beta", "float", 0.75),
        Arg("k", "float", 2.0),
    )
    size: int
    alpha: float
    beta: float
    k: float

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        need_spatial("lrn", x, "local response norm goes between convolutions, before flatten")
        if a["size"] % 2 == 0:
            raise OpError(
                f"lrn: the window size must be odd, got {a['size']}",
                arg="size",
                hint="an even window is not centred on its channel (and PyTorch and ONNX lean it different ways)",
            )
        return cls(a["size"], a["alpha"], a["beta"], a["k"])

    def torch_spec(self, inputs):
        return "LocalResponseNorm", (self.size,), {"alpha": self.alpha, "beta": self.beta, "k": self.k}

    def onnx_nodes(self, g, inputs, output, types):
        attrs = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.k}
        (x,) = types
        if x.rank == 2:
            g.node("LRN", inputs, [output], **attrs)
            return
        # ONNX Runtime's LRN takes NxCxHxW only; LRN mixes channels alone, so fold the other
        # axes into one: N x C x prod(spatial) x 1, then back
        import numpy as np

        g.node("Reshape", [inputs[0], g.const("as4d", np.array([0, x.channels, -1, 1], np.int64))],
               [g.temp("4d")], suffix="as4d")
        g.node("LRN", [g.temp("4d")], [g.temp("lrn")], suffix="lrn", **attrs)
        g.node("Reshape", [g.temp("lrn"), g.const("back", np.array([0, *x.shape], np.int64))], [output])

    def explain_channels(self, inputs, out):
        return f"each value divided by the energy of its {self.size} neighbouring channels: {maps(out)}"

    def label(self) -> str:
        return f"lrn {self.size}"


@register
@record
class LayerNorm(Op):
    name = "layernorm"
    work_rule = ("7 per element (sum, subtract the mean, square, sum, divide, scale, shift) and 4 per normalised vector "
                 "(2 divides for the mean and variance, add eps, square root)")

    def work(self, inputs, out):
        return 7 * out.numel + 4 * (out.numel // math.prod(self.normalized_shape))

    family = Family.NORM
    sequences = True
    output_overwritable = True  # backward reads its input, not its output
    args = (Arg("eps", "pos_float", 1e-5),)
    normalized_shape: tuple[int, ...]
    eps: float

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls((x.channels,) if x.is_sequence else x.shape, a["eps"])


    def tensors(self):
        return StateTensor("weight", self.normalized_shape), StateTensor("bias", self.normalized_shape)

    def explain_params(self):
        n = 1
        for v in self.normalized_shape:
            n *= v
        return Formula(f"2 x {product(self.normalized_shape)} (scale, shift)", 2 * n, note="one pair per element")

    def explain_channels(self, inputs, out):
        if out.is_sequence:
            return f"each token normalised over its {out.channels} features: {maps(out)}"
        return f"each sample normalised over all its values: {maps(out)}"

    init = (Init("weight", "ones"), Init("bias", "zeros"))
    init_is_torch_default = True

    def torch_spec(self, inputs):
        return "LayerNorm", (self.normalized_shape,), {"eps": self.eps}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("LayerNormalization", [inputs[0], g.weight("weight"), g.weight("bias")], [output],
               axis=-len(self.normalized_shape), epsilon=self.eps)


@register
@record
class GroupNorm(Op):
    name = "groupnorm"
    work_rule = ("7 per element (sum, subtract the mean, square, sum, divide, scale, shift) and 4 per group "
                 "(2 divides for the mean and variance, add eps, square root)")

    def work(self, inputs, out):
        return 7 * out.numel + 4 * self.groups

    family = Family.NORM
    output_overwritable = True  # backward reads its input, not its output
    args = (Arg("groups", "int", REQUIRED, "the number of channel groups, e.g. groupnorm(32)"), Arg("eps", "pos_float", 1e-5))
    groups: int
    num_channels: int
    eps: float

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        if x.channels % a["groups"]:
            raise OpError(
                f"groupnorm: {a['groups']} groups do not divide the {x.channels} channels",
                arg="groups",
                hint="choose a number of groups that divides the channel count",
            )
        return cls(a["groups"], x.channels, a["eps"])


    def tensors(self):
        return StateTensor("weight", (self.num_channels,)), StateTensor("bias", (self.num_channels,))

    init = (Init("weight", "ones"), Init("bias", "zeros"))
    init_is_torch_default = True

    def torch_spec(self, inputs):
        return "GroupNorm", (self.groups, self.num_channels), {"eps": self.eps}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("GroupNormalization", [inputs[0], g.weight("weight"), g.weight("bias")], [output],
               num_groups=self.groups, epsilon=self.eps)

    def explain_params(self):
        return Formula(f"2 x {self.num_channels} (scale, shift)", 2 * self.num_channels, note="one pair per channel")

    def explain_channels(self, inputs, out):
        return (f"normalised in {self.groups} groups of {self.num_channels // self.groups} channels, then each channel "
                f"scaled and shifted: {maps(out)}")

    def label(self) -> str:
        return f"groupnorm {self.groups}"


@register
@record
class LayerNorm2d(Op):
    name = "layernorm2d"
    work_rule = ("7 per element (sum, subtract the mean, square, sum, divide, scale, shift) and 4 per position (the channels there) "
                 "(2 divides for the mean and variance, add eps, square root)")

    def work(self, inputs, out):
        return 7 * out.numel + 4 * (out.numel // self.num_channels)

    family = Family.NORM
    output_overwritable = True  # backward reads its input, not its output
    args = (Arg("eps", "pos_float", 1e-5, "torch's default; ConvNeXt uses 1e-6"),)
    num_channels: int
    rank: int
    eps: float

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls(x.channels, x.rank, a["eps"])


    def tensors(self):
        return StateTensor("weight", (self.num_channels,)), StateTensor("bias", (self.num_channels,))

    init = (Init("weight", "ones"), Init("bias", "zeros"))
    init_is_torch_default = True

    def explain_params(self):
        return Formula(f"2 x {self.num_channels} (scale, shift)", 2 * self.num_channels, note="one pair per channel")

    def explain_channels(self, inputs, out):
        return f"at every position, the {self.num_channels} channels normalised together: {maps(out)}"

    def torch_spec(self, inputs):
        return "LayerNorm2d", (self.num_channels,), {"eps": self.eps}

    def onnx_nodes(self, g, inputs, output, types):
        affine = [g.weight("weight"), g.weight("bias")]
        if self.rank == 0:
            g.node("LayerNormalization", [inputs[0], *affine], [output], axis=-1, epsilon=self.eps)
            return
        last = [0, *range(2, 2 + self.rank), 1]  # N x C x S... -> N x S... x C
        back = [0, 1 + self.rank, *range(1, 1 + self.rank)]
        g.node("Transpose", inputs, [g.temp("last")], suffix="last", perm=last)
        g.node("LayerNormalization", [g.temp("last"), *affine], [g.temp("norm")], suffix="norm", axis=-1,
               epsilon=self.eps)
        g.node("Transpose", [g.temp("norm")], [output], perm=back)
