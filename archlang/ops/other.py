"""Structural ops: flatten, identity, dropout.

flatten:  CxHxW -> C*H*W features (the receptive field becomes global).
identity: the unit of '->': lowers to no node at all (`norm=identity` leaves no trace).
dropout:  zeroes each element with probability p while training; shape kept; p = 0.5 default.
torch: nn.Flatten, nn.Dropout (identity has no module).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import TensorType
from .base import GLOBAL, Arg, Bound, Family, Op, register


@register
@dataclass(frozen=True)
class Flatten(Op):
    name = "flatten"
    family = Family.OTHER

    def infer(self, inputs):
        return TensorType(inputs[0].numel)

    def window(self):
        return GLOBAL

    def torch_spec(self, inputs):
        return "Flatten", (), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Flatten", inputs, [output], axis=1)


@register
@dataclass(frozen=True)
class Identity(Op):
    name = "identity"
    family = Family.OTHER
    elide = True  # lowering drops it; these rules serve code that keeps it

    def torch_spec(self, inputs):
        return "Identity", (), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Identity", inputs, [output])


@register
@dataclass(frozen=True)
class Dropout(Op):
    name = "dropout"
    family = Family.OTHER
    args = (Arg("p", "prob", 0.5, "the probability of zeroing an element"),)
    p: float

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["p"])

    def torch_spec(self, inputs):
        return "Dropout", (self.p,), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Identity", inputs, [output])  # inference: dropout passes its input through

    def label(self) -> str:
        return f"dropout {self.p:g}"


@dataclass(frozen=True)
class Input(Op):
    """The graph's input node (not a language op: never registered)."""

    name = "input"
    family = Family.INPUT
    type: TensorType

    def infer(self, inputs):
        return self.type

    def label(self) -> str:
        return "input"
