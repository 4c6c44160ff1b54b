"""Shape assertions (`f : 6@28x28`) and output declarations during lowering: whether a value
has the asserted shape, what differs in words, the error, and which op call an assertion
checks (the solver filters that call's values by it)."""

from __future__ import annotations

from .. import syntax as S
from ..errors import ShapeError, Span
from ..ir import TensorType
from ..ops import Op
from .values import LayerAssert, LayerCall, LayerChain, LayerValue

__all__ = ["AssertionFailed", "shape_matches", "shape_difference", "asserted_calls"]


class AssertionFailed(ShapeError):
    """A shape assertion or output declaration that the inferred shape does not meet."""

    def __init__(self, message: str, span: Span, *, got: TensorType, expected: S.Shape, **kw) -> None:
        super().__init__(message, span, **kw)
        self.got = got
        self.expected = expected


def _keeps_shape(layer: LayerValue) -> bool:
    """An op call whose output has its input's shape (activations, norms, dropout)."""
    return isinstance(layer, LayerCall) and layer.op is not None and layer.op.infer is Op.infer and not layer.op.merge


def asserted_calls(layer: LayerValue, shape: S.Shape | None, out: dict[int, S.Shape]) -> S.Shape | None:
    """Mark the op calls whose output an assertion checks (`conv(?) : S`, `conv(?) -> bn -> relu
    : S`, `conv(?) -> bn : S -> relu`) in `out` (id -> shape); returns the shape still owed by
    whatever comes before `layer` (it kept the shape), None otherwise."""
    if isinstance(layer, LayerAssert):
        shape = layer.shape
        layer = layer.body
    if isinstance(layer, LayerChain):
        for item in reversed(layer.items):
            shape = asserted_calls(item, shape, out)
        return shape
    if shape is None or _keeps_shape(layer):
        return shape
    if isinstance(layer, LayerCall) and layer.op is not None:
        out[id(layer)] = shape
    return None


def layout_of(t: TensorType) -> str:
    return "ids" if t.ids else "seq" if t.tokens else "map"


def shape_matches(t: TensorType, shape: S.Shape) -> bool:
    dims = t.shape
    return (layout_of(t) == shape.layout and len(dims) == len(shape.dims)
            and all(w is None or w == d for d, w in zip(dims, shape.dims)))


def shape_difference(t: TensorType, shape: S.Shape) -> list[str]:
    """What differs, axis by axis, in words: `channels: 16, not 6`."""
    words = {"map": "a feature map", "seq": "a token sequence", "ids": "token indices"}
    if layout_of(t) != shape.layout:
        return [f"{t} is {words[layout_of(t)]}; {shape.text()} is {words[shape.layout]}"]
    if t.tokens:
        out = [f"tokens: {t.tokens}, not {shape.dims[0]}"] if shape.dims[0] not in (None, t.tokens) else []
        if not t.ids and shape.dims[1] not in (None, t.channels):
            out.append(f"features: {t.channels}, not {shape.dims[1]}")
        return out
    if len(t.shape) != len(shape.dims):
        def axes(n: int) -> str:
            return "a flat vector" if n == 1 else f"channels and {n - 1} spatial ax{'is' if n == 2 else 'es'}"
        return [f"{t} has {axes(len(t.shape))}; {shape.text()} has {axes(len(shape.dims))}"]
    if t.rank == 0:
        return [f"features: {t.channels}, not {shape.dims[0]}"]
    out = [f"channels: {t.channels}, not {shape.dims[0]}"] if shape.dims[0] not in (None, t.channels) else []
    wanted = shape.dims[1:]
    if any(w is not None and w != d for d, w in zip(t.spatial, wanted)):
        sizes = "x".join(map(str, t.spatial))
        out.append(f"spatial size{'s' if t.rank > 1 else ''}: {sizes}, not {'x'.join('?' if w is None else str(w) for w in wanted)}")
    return out
