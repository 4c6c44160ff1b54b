"""Pointwise activations: shape kept, no parameters, no MACs, receptive field unchanged.

relu max(0, x) · relu6 min(max(0, x), 6) · leakyrelu x if x > 0 else slope * x ·
elu x if x > 0 else alpha (e^x - 1) · gelu x * Phi(x) (exact erf form) · silu x * sigmoid(x) ·
sigmoid 1 / (1 + e^-x) · tanh · softmax over the channel axis (axis 1 with the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Arg, Bound, Op, register


@dataclass(frozen=True)
class _Activation(Op):
    family = "activation"


@register
@dataclass(frozen=True)
class ReLU(_Activation):
    name = "relu"


@register
@dataclass(frozen=True)
class ReLU6(_Activation):
    name = "relu6"


@register
@dataclass(frozen=True)
class LeakyReLU(_Activation):
    name = "leakyrelu"
    args = (Arg("slope", "float", 0.01, "the slope for x < 0"),)
    slope: float

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["slope"])

    def label(self) -> str:
        return f"leakyrelu {self.slope:g}"


@register
@dataclass(frozen=True)
class ELU(_Activation):
    name = "elu"
    args = (Arg("alpha", "float", 1.0),)
    alpha: float

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["alpha"])


@register
@dataclass(frozen=True)
class GELU(_Activation):
    name = "gelu"


@register
@dataclass(frozen=True)
class SiLU(_Activation):
    name = "silu"


@register
@dataclass(frozen=True)
class Sigmoid(_Activation):
    name = "sigmoid"


@register
@dataclass(frozen=True)
class Tanh(_Activation):
    name = "tanh"


@register
@dataclass(frozen=True)
class Softmax(_Activation):
    name = "softmax"
