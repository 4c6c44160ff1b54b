"""What an expression evaluates to: a number, a boolean, a tuple of numbers, or a layer value.

A layer value is a layer not yet applied to a tensor, with its arguments evaluated:
- `LayerCall`: one op or block with its arguments (`conv3x3(64)`, `stage(64, 2)`, `relu`);
- `LayerChain`: layers applied one after another (`a -> b -> c`);
- `LayerRepeat`: a layer applied `count` times (`a * 3`);
- `LayerMerge`: branches joined by a merge op (`add(a | b)`, `concat(a | b | c)`);
- `LayerResidual`: `residual(f)` and `residual(f, shortcut=g)`;
- `LayerNamed`: `f as x`, and `LayerRef`: a use of the named value `x`, both tied to the
  `Frame` (the network or block instance) whose body wrote them;
- `LayerTuple`: `(a, b, c)`, several values at once;
- `LayerAssert`: `f : 6@28x28`, the value `f` gives, checked to have that shape.
`instantiate` applies them to tensors; `show` prints any value as the language writes it, and
`key` gives a value's structural identity (equal for equal values written in different places).
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any, Union

from ..errors import Span
from ..records import record

if TYPE_CHECKING:
    from .. import syntax as S
    from ..ops import Op

__all__ = [
    "LayerValue", "LayerCall", "LayerChain", "LayerRepeat", "LayerMerge", "LayerResidual", "LayerNamed",
    "LayerRef", "LayerTuple", "LayerAssert", "Frame", "Value", "show", "kind_of", "key",
]


@record
class LayerValue:
    span: Span

    def __str__(self) -> str:
        return show(self)


@record(one_write=True)  # made for every layer written, read a few times as it is applied
class LayerCall(LayerValue):
    name: str  # as written: `conv3x3`, `stage`
    func_span: Span
    op: "type[Op] | None"  # exactly one of op and block is set
    block: "S.Block | None"
    kernel: tuple[int, ...] | None  # from a conv3x3-style name
    args: tuple[tuple[Any, Span], ...] = ()
    kwargs: tuple[tuple[str, Any, Span], ...] = ()
    # the block bodies whose evaluation wrote this call, outermost first: a block called from
    # its own body, directly or not, is recursive; one passed in as an argument is not
    origin: tuple[str, ...] = field(default=(), compare=False)


@record
class LayerChain(LayerValue):
    items: tuple[LayerValue, ...]


@record
class LayerRepeat(LayerValue):
    body: LayerValue
    count: int


@record
class LayerMerge(LayerValue):
    op: "type[Op]"
    branches: tuple[LayerValue, ...]


@record
class LayerResidual(LayerValue):
    body: LayerValue
    shortcut: LayerValue | None


class Frame:
    """The named values of one network or block instance: which names its body declares
    (`as`, inputs), what each is bound to when lowered (a node name, or a tuple of them),
    where it was bound, and which were used. Compared by identity."""

    def __init__(self, declared: dict[str, Span], owner: str, inputs: set[str] = frozenset()) -> None:
        self.declared = declared  # name -> where the body defines it (inputs included)
        self.owner = owner  # "network n" or "block b", for messages
        self.inputs = inputs  # the declared names that are inputs
        self.values: dict[str, Any] = {}
        self.bound_at: dict[str, Span] = {}
        self.used: set[str] = set()

    def __repr__(self) -> str:
        return f"<Frame of {self.owner}>"


@record
class LayerNamed(LayerValue):
    body: LayerValue
    name: str
    name_span: Span
    frame: Frame = field(compare=False)


@record
class LayerRef(LayerValue):
    name: str
    frame: Frame = field(compare=False)


@record
class LayerTuple(LayerValue):
    items: tuple[LayerValue, ...]


@record
class LayerAssert(LayerValue):
    body: LayerValue
    shape: "S.Shape"


Value = Union[int, float, bool, tuple, LayerValue]

SHOW_LIMIT = 120  # characters of a printed value before it is cut with '...'


def kind_of(value: Value) -> str:
    if type(value) is bool:
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, tuple):
        return "a tuple"
    return "a layer"


def show(value: Value, limit: int = SHOW_LIMIT) -> str:
    """A value as the language writes it, printed from the value (never from source text):
    `stage(64, 2, bn)`, `(conv3x3 -> relu) * 2`, `add(conv1x1(8) | identity)`. Longer than
    `limit` characters, it is cut with '...' (values can be built that are too long to print)."""
    out: list[str] = []
    budget = [limit + 1]

    def put(text: str) -> bool:
        out.append(text)
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(v: Value, tight: bool) -> bool:
        # `tight`: v sits where '->' would need parentheses (a repeat's body)
        if type(v) is bool:
            return put("true" if v else "false")
        if isinstance(v, float):
            return put(f"{v:g}")
        if isinstance(v, int):
            return put(str(v))
        if isinstance(v, tuple):
            if not put("("):
                return False
            for i, item in enumerate(v):
                if (i and not put(", ")) or not walk(item, False):
                    return False
            return put(",)" if len(v) == 1 else ")")
        if isinstance(v, LayerChain):
            if not v.items:
                return put("identity")
            if tight and len(v.items) > 1 and not put("("):
                return False
            for i, item in enumerate(v.items):
                if (i and not put(" -> ")) or not walk(item, False):
                    return False
            return put(")") if tight and len(v.items) > 1 else True
        if isinstance(v, LayerRepeat):
            return walk(v.body, True) and put(f" * {v.count}")
        if isinstance(v, LayerMerge):
            if not put(f"{v.op.name}("):
                return False
            for i, b in enumerate(v.branches):
                if (i and not put(" | ")) or not walk(b, False):
                    return False
            return put(")")
        if isinstance(v, LayerResidual):
            if not (put("residual(") and walk(v.body, False)):
                return False
            if v.shortcut is not None and not (put(", shortcut=") and walk(v.shortcut, False)):
                return False
            return put(")")
        if isinstance(v, LayerNamed):
            return (not tight or put("(")) and walk(v.body, True) and put(f" as {v.name}") and (not tight or put(")"))
        if isinstance(v, LayerRef):
            return put(v.name)
        if isinstance(v, LayerAssert):
            return walk(v.body, True) and put(f" : {v.shape.text()}")
        if type(v).__name__ == "HoleRef":  # an unassigned hole, while the solver works
            return put(str(v))
        if isinstance(v, LayerTuple):
            if not put("("):
                return False
            for i, item in enumerate(v.items):
                if (i and not put(", ")) or not walk(item, False):
                    return False
            return put(",)" if len(v.items) == 1 else ")")
        if isinstance(v, LayerCall):
            if not put(v.name):
                return False
            if not v.args and not v.kwargs:
                return True
            if not put("("):
                return False
            first = True
            for a, _ in v.args:
                if (not first and not put(", ")) or not walk(a, False):
                    return False
                first = False
            for k, a, _ in v.kwargs:
                if (not first and not put(", ")) or not put(f"{k}=") or not walk(a, False):
                    return False
                first = False
            return put(")")
        raise AssertionError(f"unknown value {v!r}")

    if walk(value, False):
        return "".join(out)
    return "".join(out)[:limit] + "..."


def key(value: Value) -> Any:
    """A value's structural identity: hashable, equal for equal values wherever they were
    written (spans are left out), and telling apart values that print alike (1 and 1.0)."""
    if isinstance(value, (bool, int, float)):
        return (type(value).__name__, value)
    if isinstance(value, tuple):
        return ("tuple", tuple(key(v) for v in value))
    if isinstance(value, LayerChain):
        return ("chain", tuple(key(v) for v in value.items))
    if isinstance(value, LayerRepeat):
        return ("repeat", key(value.body), value.count)
    if isinstance(value, LayerMerge):
        return ("merge", value.op.name, tuple(key(b) for b in value.branches))
    if isinstance(value, LayerResidual):
        return ("residual", key(value.body), None if value.shortcut is None else key(value.shortcut))
    if isinstance(value, LayerNamed):
        return ("named", key(value.body), value.name, id(value.frame))
    if isinstance(value, LayerRef):
        return ("ref", value.name, id(value.frame))
    if isinstance(value, LayerAssert):
        return ("assert", key(value.body), value.shape.dims)
    if type(value).__name__ == "HoleRef":
        return ("hole", value.key)
    if isinstance(value, LayerTuple):
        return ("values", tuple(key(v) for v in value.items))
    if isinstance(value, LayerCall):
        callee = ("block", value.block.name) if value.block is not None else ("op", value.op.name, value.kernel)
        return ("call", callee, tuple(key(a) for a, _ in value.args), tuple((k, key(a)) for k, a, _ in value.kwargs))
    raise AssertionError(f"unknown value {value!r}")
