"""Fully connected layer (`fc`, alias `linear`) on a feature vector.

Shape: F_in -> F_out.  Parameters: F_in * F_out (+ F_out with bias).  MACs: F_in * F_out.
Its receptive field is the whole input. The input must be flat: `flatten` or global pooling
and `flatten` come first. On a token sequence [L]xD it maps each token's D features to F
(torch's Linear on the last axis): MACs L * D * F, and each token sees only itself.
torch: nn.Linear, initialised by its own reset_parameters() (uniform in +-1/sqrt(F_in)), as
torchvision's ResNet leaves it. (torchvision's VGG draws fc weights from N(0, 0.01) instead.)
"""

from __future__ import annotations

import math
from dataclasses import field

from ..ir import TensorType
from ..records import record
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Init, Op, OpError, StateTensor, register
from .formula import Formula


@register
@record
class FC(Op):
    name = "fc"
    work_rule = "2 per multiply-accumulate, and 1 per output for the bias"

    def work(self, inputs, out):
        return 2 * self.macs(inputs, out) + (out.numel if self.bias else 0)

    family = Family.FC
    sequences = True  # per token: [L]xD -> [L]xF
    output_overwritable = True  # backward reads its input, not its output
    aliases = ("linear",)
    args = (Arg("c", "channels", REQUIRED, "output features, e.g. fc(10)"), Arg("bias", "bool", True),
            Arg("tie", "layer", None, "a named value whose layer's weight this layer shares (GPT-2's output "
                "layer and its token embedding: embed(50257, 768) as wte ... fc(50257, bias=false, tie=wte))"))
    in_features: int
    out_features: int
    bias: bool
    tied: str = field(default="", metadata={"quiet": True})  # the node whose weight this layer reads

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        if a["tie"] is not None:
            other = a["tie"]
            theirs = {t.name: t.shape for t in other.op.tensors()}.get("weight")
            if other.op.name not in ("embed", "fc") or theirs is None:
                raise OpError(f"fc(tie=...) shares the weight of an embed or fc layer, but the value named here comes "
                              f"from {other.op.name}", arg="tie", hint="name the embedding's output: embed(...) as wte")
            if theirs != (a["c"], x.channels):
                raise OpError(f"fc({a['c']}) on {x.channels} features has a {a['c']} x {x.channels} weight, but "
                              f"{other.node} ({other.op.label()}) has a {theirs[0]} x {theirs[1]} one",
                              arg="tie", kind="shape",
                              hint="a tied layer maps the embedding's width back to its vocabulary: "
                              f"fc({theirs[0]}) on {theirs[1]} features")
        tied = a["tie"].node if a["tie"] is not None else ""
        if x.is_sequence:
            return cls(x.channels, a["c"], a["bias"], tied)
        if x.rank:
            raise OpError(
                f"fc needs a flat input, but this input is {x}",
                hint=f"add 'flatten' before fc (it gives {x.numel:,} features)"
                + (", or 'globalavgpool -> flatten' to average the spatial axes away" if x.numel > x.channels else ""),
                kind="shape",
            )
        return cls(x.channels, a["c"], a["bias"], tied)

    def infer(self, inputs):
        if inputs[0].is_sequence:  # per token
            return TensorType(self.out_features, tokens=inputs[0].tokens)
        return TensorType(self.out_features)


    def macs(self, inputs, out) -> int:
        return self.in_features * self.out_features * (out.tokens or 1)

    def window(self):
        return GLOBAL

    def window_on(self, inputs):
        return None if inputs[0].is_sequence else GLOBAL  # per token: each token sees itself

    def tensors(self):
        weight = () if self.tied else (StateTensor("weight", (self.out_features, self.in_features)),)
        return weight + ((StateTensor("bias", (self.out_features,)),) if self.bias else ())

    def ties(self):
        return (("weight", self.tied, "weight"),) if self.tied else ()

    # torch's own Linear.reset_parameters(): U(-1/sqrt(F_in), 1/sqrt(F_in)) for both
    init = (Init("weight", "kaiming_uniform", a=math.sqrt(5)), Init("bias", "fan_in_uniform", of="weight"))
    init_is_torch_default = True

    def torch_spec(self, inputs):
        return "Linear", (self.in_features, self.out_features), {"bias": self.bias}

    def onnx_nodes(self, g, inputs, output, types):
        weight = g.weight("weight", of=self.tied or None)
        if types[0].is_sequence:  # per token: x W^T (+ b) on the last axis
            g.node("Transpose", [weight], [g.temp("weight_t")], suffix="weight_t", perm=[1, 0])
            if not self.bias:
                g.node("MatMul", [inputs[0], g.temp("weight_t")], [output])
                return
            g.node("MatMul", [inputs[0], g.temp("weight_t")], [g.temp("product")], suffix="product")
            g.node("Add", [g.temp("product"), g.weight("bias")], [output])
            return
        args = [inputs[0], weight] + ([g.weight("bias")] if self.bias else [])
        g.node("Gemm", args, [output], transB=1)

    def explain_shape(self, inputs, out):
        return (Formula("", self.out_features, "F", "the number of neurons" + (", for each token" if out.tokens else ""),
                        (1 if out.tokens else 0,)),)

    def explain_channels(self, inputs, out):
        return (f"{self.out_features} neurons, each a weighted sum of all {self.in_features} input features"
                + (" plus a bias" if self.bias else ""))

    def explain_params(self):
        if self.tied:
            own = self.out_features if self.bias else 0
            return Formula(f"{own} biases" if own else "", own, note=f"its {self.out_features} x {self.in_features} "
                           f"weight is {self.tied}'s, counted there")
        numbers = f"{self.out_features} x {self.in_features}"
        if self.bias:
            return Formula(numbers + f" + {self.out_features} biases",
                           self.out_features * self.in_features + self.out_features)
        return Formula(numbers, self.out_features * self.in_features, note="no bias")

    def explain_macs(self, inputs, out):
        if out.tokens:
            return Formula(f"{out.tokens} x {self.out_features} x {self.in_features}", self.macs(inputs, out),
                           note="one per weight, for each token")
        return Formula(f"{self.out_features} x {self.in_features}", self.out_features * self.in_features,
                       note="one per weight")

    def label(self) -> str:
        return f"fc {self.out_features}" + (f", tied to {self.tied.rpartition('.')[2]}" if self.tied else "")
