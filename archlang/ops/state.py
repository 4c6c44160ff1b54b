"""A layer's state and how it starts, as data every backend reads: `StateTensor` (a tensor of
the state_dict: name, shape, whether it is a buffer, dtype) and `Init` (its initialisation
rule in torch.nn.init's words), with `fans` counting fans as torch does. The torch builder
maps each rule to torch.nn.init; numpy draws the same distributions for ONNX export."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..records import record

__all__ = ["Init", "StateTensor", "fans"]


_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}  # and leaky_relu


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight as torch.nn.init counts them: for a (C_out, C_in/G, *K)
    convolution weight C_in/G * prod(K) and C_out * prod(K); for an (F_out, F_in) matrix F_in
    and F_out."""
    if len(shape) < 2:
        raise ValueError(f"fan-in and fan-out need a tensor of at least 2 dimensions, not {shape}")
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


@record
class Init:
    """How one tensor of a layer starts, as data: `Init("weight", "kaiming_normal",
    mode="fan_out", nonlinearity="relu")`. The words are torch.nn.init's.

    zeros, ones:      the constant.
    constant:         the constant `value` (layerscale's starting gamma).
    kaiming_normal:   N(0, std^2), std = gain / sqrt(fan).
    kaiming_uniform:  U(-b, b), b = gain * sqrt(3 / fan).
    normal:           N(0, value^2): a fixed std (embeddings' 1, ViT's positions' 0.02).
    xavier_uniform:   U(-b, b), b = sqrt(6 / (fan_in + fan_out)) (attention's projections).
    fan_in_uniform:   U(-b, b), b = 1 / sqrt(fan_in of the tensor `of`) (0 when that is 0):
                      torch's default for the bias of a Linear or Conv.
    fan is fan_in or fan_out by `mode` (see `fans`); gain as torch.nn.init.calculate_gain:
    linear and sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2)).
    Kaiming-uniform with a = sqrt(5) (leaky_relu) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """

    tensor: str
    rule: str
    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"
    of: str = ""
    value: float = 0.0

    RULES: ClassVar[tuple[str, ...]] = ("zeros", "ones", "constant", "normal", "kaiming_normal", "kaiming_uniform",
                                        "xavier_uniform", "fan_in_uniform")

    def __post_init__(self) -> None:  # a registry bug, not user input
        if self.rule not in self.RULES:
            raise AssertionError(f"unknown initialisation rule {self.rule!r}; rules: {', '.join(self.RULES)}")
        if self.mode not in ("fan_in", "fan_out"):
            raise AssertionError(f"unknown fan mode {self.mode!r}")
        if self.nonlinearity not in _GAINS and self.nonlinearity != "leaky_relu":
            raise AssertionError(f"unknown nonlinearity {self.nonlinearity!r}")
        if (self.rule == "fan_in_uniform") != bool(self.of):
            raise AssertionError("fan_in_uniform, and only it, names the tensor whose fan-in it takes (`of`)")
        if self.value and self.rule not in ("constant", "normal"):
            raise AssertionError("only the constant rule (its value) and the normal rule (its std) take a value")

    def gain(self) -> float:
        if self.nonlinearity == "leaky_relu":
            return math.sqrt(2.0 / (1 + self.a**2))
        return _GAINS[self.nonlinearity]

    def scale(self, shapes: dict[str, tuple[int, ...]]) -> float:
        """The normal rule's std or a uniform rule's bound b, for a layer whose tensors have
        these shapes (by name); 0 for the constants."""
        if self.rule == "constant":
            return 0.0
        if self.rule == "fan_in_uniform":
            fan_in = fans(shapes[self.of])[0]
            return 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        if self.rule in ("zeros", "ones"):
            return 0.0
        if self.rule == "normal":
            return self.value
        if self.rule == "xavier_uniform":
            fan_in, fan_out = fans(shapes[self.tensor])
            return math.sqrt(6.0 / (fan_in + fan_out))
        fan = fans(shapes[self.tensor])[self.mode == "fan_out"]
        if fan == 0:
            raise ValueError(f"cannot initialise '{self.tensor}' of shape {shapes[self.tensor]}: its {self.mode} is 0")
        std = self.gain() / math.sqrt(fan)
        return std if self.rule == "kaiming_normal" else math.sqrt(3.0) * std

    def torch_call(self) -> tuple[str, dict] | None:
        """(torch.nn.init function, keyword arguments other than torch's defaults), or None
        for a rule no single torch.nn.init call states (fan_in_uniform: its bound depends on
        another tensor)."""
        if self.rule in ("zeros", "ones"):
            return f"{self.rule}_", {}
        if self.rule == "constant":
            return "constant_", {"val": self.value}
        if self.rule == "fan_in_uniform":
            return None
        if self.rule == "normal":
            return "normal_", {"std": self.value}
        if self.rule == "xavier_uniform":
            return "xavier_uniform_", {}
        kwargs: dict[str, Any] = {}
        if self.a:
            kwargs["a"] = self.a
        if self.mode != "fan_in":
            kwargs["mode"] = self.mode
        if self.nonlinearity != "leaky_relu":
            kwargs["nonlinearity"] = self.nonlinearity
        return f"{self.rule}_", kwargs


@record
class StateTensor:
    """One tensor of a layer's state, as torch's state_dict holds it under `<layer>.<name>`:
    its shape, whether it is a buffer (kept but not trained, not counted in `param_count`:
    batch norm's running statistics), and its dtype (numpy's word)."""

    name: str
    shape: tuple[int, ...]
    buffer: bool = False
    dtype: str = "float32"
