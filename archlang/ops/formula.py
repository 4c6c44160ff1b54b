"""The explanation half of the op contract: rules with a layer's numbers filled in.

Each op states its shape, parameter and MAC rules as `Formula`s (ops/base.Op's `explain_*`
methods); `archlang explain` (archlang/explain.py) prints them. A formula reads
`rule = numbers = value (note)`: `O = (I + 2P - K)/S + 1 = (32 + 0 - 5)/1 + 1 = 28`. Its
`numbers` are plain arithmetic over the layer's numbers (`x` times, `/` exact division,
`floor()`, `ceil()`, `max()`), with words naming terms (`6 biases`, `2 x 64 (scale, shift)`):
evaluated, they give `value`, and tests/test_explain.py holds every op of the registry to
that and to the analyses' figures. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from ..ir import TensorType, sizes_text
from ..records import record

__all__ = ["Formula", "axis_names", "per_axis", "window_rule", "maps", "product"]


@record
class Formula:
    """One rule with numbers. `axes`: for a shape rule, the output shape's axes the line gives
    (0 the channels or features, 1... the spatial axes); `label` names them when a line gives
    only some spatial axes (`height`)."""

    numbers: str
    value: int | Fraction
    rule: str = ""
    note: str = ""
    axes: tuple[int, ...] = ()
    label: str = ""

    @property
    def text(self) -> str:
        value = f"{self.value:,}" if isinstance(self.value, int) else str(self.value)
        parts = [p for p in (self.rule, self.numbers) if p and p != value]
        text = " = ".join([*parts, value])
        if self.label:
            text = f"{self.label}: {text}"
        return text + (f" ({self.note})" if self.note else "")


def axis_names(rank: int) -> tuple[str, ...]:
    return {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}.get(rank, ())


def per_axis(lines: list[Formula]) -> tuple[Formula, ...]:
    """One line per spatial axis (line i gives axis i + 1), merged where axes agree: one
    unlabelled line when all do, else lines labelled by axis (`height, width: ...`)."""
    names = axis_names(len(lines))
    groups: dict[Formula, list[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(line, []).append(i)
    if len(groups) == 1:
        return (replace(lines[0], axes=tuple(range(1, len(lines) + 1))),)
    return tuple(replace(line, axes=tuple(i + 1 for i in idx), label=", ".join(names[i] for i in idx))
                 for line, idx in groups.items())


def product(values) -> str:
    """`1 x 5 x 5`."""
    return " x ".join(str(v) for v in values)


def window_rule(i: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> Formula:
    """A sliding window's output size on one axis, as window_out computes it (PyTorch's rule):
    O = (I + 2P - K)/S + 1, floor (ceil in ceil mode) shown where the division rounds,
    the dilated kernel D(K - 1) + 1 where D > 1."""
    keff = d * (k - 1) + 1
    span = i + 2 * p - keff
    if d == 1:
        rule, numbers = "I + 2P - K", f"{i} + {2 * p} - {k}"
    else:
        rule, numbers = "I + 2P - D(K - 1) - 1", f"{i} + {2 * p} - {d} x ({k} - 1) - 1"
    out = (-(-span // s) if ceil else span // s) + 1
    if span % s == 0:
        return Formula(f"({numbers})/{s} + 1", out, f"O = ({rule})/S + 1")
    rounding = "ceil" if ceil else "floor"
    if ceil and (out - 1) * s >= i + p:  # PyTorch drops a last window starting past the input and its padding
        return Formula(f"ceil(({numbers})/{s})", out - 1, f"O = ceil(({rule})/S)",
                       note="ceil mode, less the last window, which would start past the input and its padding")
    return Formula(f"{rounding}(({numbers})/{s}) + 1", out, f"O = {rounding}(({rule})/S) + 1",
                   note="ceil mode: a last, partial window" if ceil else "")


def maps(t: TensorType) -> str:
    """`6@28x28 is 6 maps of 28x28`, in words for the tensor's rank."""
    c = t.channels
    if t.ids:
        return f"{t.tokens} token indices"
    if t.tokens:
        return f"{t} is {t.tokens} token{'s' if t.tokens != 1 else ''} of {c} feature{'s' if c != 1 else ''}"
    if t.rank == 0:
        return f"{c} feature{'s' if c != 1 else ''}"
    what = {1: "sequences of length", 2: "maps of", 3: "volumes of"}[t.rank] if t.rank in (1, 2, 3) else "maps of"
    if c == 1:
        what = {"sequences of length": "sequence of length", "maps of": "map of", "volumes of": "volume of"}[what]
    return f"{c}@{sizes_text(t.spatial)} is {c} {what} {sizes_text(t.spatial)}"
