"""The argument half of the op contract: how an op declares its arguments (`Arg`: a name, a
kind, a default) and how a call's values are checked against them (`_check_value`, `Bound`),
with `OpError`, the error an op raises without a position (`lower` attaches the argument's
span). `ops/base.py` re-exports all of it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..ir import TensorType
from ..records import record

if TYPE_CHECKING:
    from .base import Op

__all__ = ["REQUIRED", "MAX_SIZE", "FLOAT32_MAX", "Arg", "LayerOf", "OpError", "Bound", "axes"]

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
MAX_SIZE = 2**31 - 1  # the largest channel count, kernel, stride or padding a spec may give
FLOAT32_MAX = 3.4028234663852886e38


@record
class Arg:
    """One argument of an op as the language sees it.

    kind: "channels" (positive int: the op's output channels or features, default keeps the
    input's; the solver relies on it), "int" (positive), "int0" (>= 0), "ints"
    (positive, one per spatial axis or one for all), "ints0" (the same, zero allowed),
    "float", "pos_float" (> 0), "prob" (0 to 1), "bool", "like" (a named value: the op gets
    its TensorType, as `crop(like=skip)` takes a size from another value), "layer" (a named
    value: the op gets the layer that made it, a `LayerOf`, as `fc(tie=wte)` shares its weight).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""


@record
class LayerOf:
    """What a "layer" argument (`tie=wte`) gets: the node that made the named value, and its op."""

    node: str
    op: "Op"


class OpError(Exception):
    """A rule of an op was broken; `lower` turns it into a positioned ArchError."""

    def __init__(self, message: str, *, hint: str | None = None, detail=(), arg: str | int | None = None,
                 branch: int | None = None, other_branch: int | None = None, kind: str = "argument") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "argument" or "shape"
        self.hint = hint
        self.detail = tuple(detail)
        self.arg = arg
        self.branch = branch
        self.other_branch = other_branch


class Bound:
    """The checked arguments of one call: values by name, with `given` for explicit ones."""

    def __init__(self, values: dict[str, Any], given: frozenset[str]) -> None:
        self._values = values
        self._given = given

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def given(self, name: str) -> bool:
        return name in self._given


def _check_value(op: str, arg: Arg, value: Any) -> Any:
    """Type-check one argument value; returns it normalised or raises OpError(arg=...)."""

    def fail(expected: str) -> OpError:
        return OpError(f"{op}: argument '{arg.name}' must be {expected}, got {_show(value)}", arg=arg.name)

    def size(v: Any, lowest: int, expected: str) -> int:
        if type(v) is not int:
            raise fail(expected)
        if v < lowest:
            raise fail(expected)
        if v > MAX_SIZE:
            raise OpError(
                f"{op}: argument '{arg.name}' is {v:,}, larger than the largest supported size {MAX_SIZE:,}",
                arg=arg.name,
                hint="sizes must fit in a 32-bit integer",
            )
        return v

    kind = arg.kind
    if kind in ("channels", "int"):
        return size(value, 1, "a positive integer")
    if kind == "int0":
        return size(value, 0, "a non-negative integer")
    if kind in ("ints", "ints0"):
        lowest = 1 if kind == "ints" else 0
        word = "a positive integer" if lowest else "a non-negative integer"
        if isinstance(value, tuple):
            if not value:
                raise fail(f"{word} or a tuple of them")
            return tuple(size(v, lowest, f"{word} or a tuple of them") for v in value)
        return size(value, lowest, f"{word} or a tuple of them, one per spatial axis")
    if kind in ("float", "pos_float", "prob"):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise fail("a number")
        if abs(value) > FLOAT32_MAX:  # weights and attributes are float32 in torch and ONNX
            raise fail(f"a number within float32's range (at most {FLOAT32_MAX:.4g} in size)")
        value = float(value)
        if kind == "pos_float" and value <= 0:
            raise fail("a positive number")
        if kind == "prob" and not 0.0 <= value <= 1.0:
            raise fail("a probability between 0 and 1")
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise fail("true or false")
        return value
    if kind == "layer":  # a named value, which lowering has replaced by the layer that made it
        if not isinstance(value, LayerOf):
            raise fail("a named value (`as x` earlier), whose layer's weight it shares")
        return value
    if kind == "like":  # a named value, which lowering has replaced by its type
        if not isinstance(value, TensorType):
            raise fail("a named value (`as x` earlier), whose shape it takes")
        return value
    raise AssertionError(f"unknown argument kind {kind!r}")  # a registry bug, not user input


def _show(value: Any) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, (int, float, tuple)):
        return repr(value)
    return f"the layer '{value}'"


def axes(value: int | tuple[int, ...], rank: int, arg: str, op: str) -> tuple[int, ...]:
    """One value per spatial axis: a single number applies to every axis."""
    if isinstance(value, tuple):
        if len(value) != rank:
            raise OpError(
                f"{op}: '{arg}' has {len(value)} values but the input has {rank} spatial "
                f"ax{'is' if rank == 1 else 'es'}",
                arg=arg,
                hint=f"give one value per spatial axis, or a single number for all {rank}",
                kind="shape",
            )
        return value
    return (value,) * rank
