"""How a block call is labelled on its frame in diagrams and tables: `stage(64, 2)`, the
call with its argument values, defaults left out (instantiate.py names each block instance
with it)."""

from __future__ import annotations

from .. import syntax as S
from .values import LayerCall, LayerValue, Value, show

__all__ = ["call_label", "LAYER_ARGUMENT_LIMIT"]


def call_label(c: LayerCall, block: S.Block) -> str:
    """`stage(64, 2)`: the call with its argument values (printed from the values, never from
    source text), leaving out trailing positional arguments and keyword arguments that are
    written the same as their parameter's literal default."""
    positional = [_argument(v) for v, _ in c.args]
    while positional:
        p = block.params[len(positional) - 1]
        if not _is_default(p, positional[-1]):
            break
        positional.pop()
    keyword = [f"{k}={_argument(v)}" for k, v, _ in c.kwargs if not _is_default(_param(block, k), _argument(v))]
    parts = positional + keyword
    return block.name + (f"({', '.join(parts)})" if parts else "")


LAYER_ARGUMENT_LIMIT = 40  # characters of a layer-valued argument in a label: nested calls stay readable


def _argument(value: Value) -> str:
    """An argument in a block's label: values in full, layers cut at LAYER_ARGUMENT_LIMIT (a
    U-Net level holding the next levels would otherwise print the whole network)."""
    return show(value, LAYER_ARGUMENT_LIMIT) if isinstance(value, LayerValue) else show(value)


def _param(block: S.Block, name: str) -> S.Param:
    return next(p for p in block.params if p.name == name)


def _is_default(p: S.Param, shown: str) -> bool:
    """Whether an argument prints the same as the parameter's default written as a literal."""
    d = p.default
    if d is None:
        return False
    if isinstance(d, S.Num):
        return show(d.value) == shown
    if isinstance(d, S.Bool):
        return ("true" if d.value else "false") == shown
    if isinstance(d, S.Name):
        return d.id == shown
    return False
