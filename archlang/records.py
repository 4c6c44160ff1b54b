"""Frozen dataclasses made cheaply, when their first instance is.

archlang's IR, syntax tree, ops and values are about 130 frozen dataclasses. Python 3.11's
`dataclasses` compiles each one's `__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` with six calls to `exec` as the class is defined: 0.6 ms a
class, 70 ms of every `archlang` command's start-up, for classes most commands never make an
instance of (a check of resnet152 makes 43 kinds of object, of 130).

`@record` is `@dataclass(frozen=True)` with two changes that only show in time:
- the class is left as written until something makes an instance (a call, or unpickling and
  copying, which set its state) or asks `records.fields(cls)`; then it is processed, its bases
  first, and is a frozen dataclass from then on;
- processing compiles one function, `__init__` (the frozen kind, which sets each field with
  `object.__setattr__`), and lets `dataclasses` do the rest without compiling anything
  (`__dataclass_fields__`, defaults, `__match_args__`): equality, hashing, `repr` and
  frozenness are shared functions that read the class's fields (compared through an
  `operator.attrgetter`, in C). 0.15 ms a class.
They compare, hash, print and refuse assignment as dataclasses do (tests/test_records.py), and
`dataclasses.fields`, `replace`, `asdict` and `is_dataclass` work on them.
"""

from __future__ import annotations

import dataclasses
import reprlib
from operator import attrgetter

__all__ = ["record", "fields", "realise", "field"]

field = dataclasses.field
MISSING = dataclasses.MISSING

_PENDING: dict[type, tuple[bool, bool]] = {}  # class -> (eq, one_write), until processed


def realise(cls: type) -> type:
    """Process `cls`, and every base still waiting, as the frozen dataclass it was declared."""
    for klass in reversed(cls.__mro__):
        options = _PENDING.pop(klass, None)
        if options is not None:
            del klass.__init__, klass.__setstate__  # the placeholders
            _process(klass, *options)
    return cls


def _process(klass: type, eq: bool, one_write: bool = False) -> None:
    if any(getattr(getattr(base, "__dataclass_params__", None), "frozen", False) for base in klass.__mro__[1:]):
        dataclasses.dataclass(klass, frozen=True, eq=eq)  # under a plain frozen dataclass: one of its kind
        return
    dataclasses.dataclass(klass, init=False, repr=False, eq=False)  # fields and defaults; nothing compiled
    own = klass.__dict__
    known = dataclasses.fields(klass)
    klass.__init__ = _init(klass, known, one_write)
    if "__repr__" not in own:
        klass._record_shown = tuple(f.name for f in known if f.repr)
        klass.__repr__ = _repr
    if eq and "__eq__" not in own:
        klass._record_key = _key([f.name for f in known if f.compare])
        klass.__eq__ = _eq
        if "__hash__" not in own:
            klass._record_hashed = _key([f.name for f in known if (f.compare if f.hash is None else f.hash)])
            klass.__hash__ = _hash
    klass._record_names = frozenset(f.name for f in known)
    klass.__setattr__, klass.__delattr__ = _frozen_setattr, _frozen_delattr
    if "__getstate__" not in own:
        klass.__getstate__ = _getstate


def _init(klass: type, known, one_write: bool = False) -> object:
    """The class's `__init__`, compiled from its fields as dataclasses writes it; with
    `one_write`, the fields go into the instance's dict in one update."""
    scope = {"__set": object.__setattr__, "__MISSING": MISSING}
    params, values = [], []
    for f in known:
        if not f.name.isidentifier() or f.name == "self":  # archlang's own field names, never a spec's text
            raise TypeError(f"{klass.__name__}: a record's field is a plain name other than self, not {f.name!r}")
        value = f.name
        if f.default is not MISSING:
            scope[f"__default_{f.name}"] = f.default
            params.append(f"{f.name}=__default_{f.name}")
        elif f.default_factory is not MISSING:
            scope[f"__factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=__MISSING")
            value = f"__factory_{f.name}() if {f.name} is __MISSING else {f.name}"
        else:
            params.append(f.name)
        values.append((f.name, value))
    if one_write and values:
        lines = ["    self.__dict__.update({" + ", ".join(f"{name!r}: {value}" for name, value in values) + "})"]
    else:
        lines = [f"    __set(self, {name!r}, {value})" for name, value in values]
    if hasattr(klass, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(lines) or "    pass") + "\n"
    made: dict = {}
    exec(source, scope, made)  # the class's own field names, as dataclasses does (tests/test_hygiene.py)
    made["__init__"].__qualname__ = f"{klass.__qualname__}.__init__"
    return made["__init__"]


def _key(names: list[str]):
    if not names:
        return lambda obj: ()
    getter = attrgetter(*names)
    return getter if len(names) > 1 else lambda obj: (getter(obj),)


def _eq(self, other) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    key = self.__class__._record_key
    return key(self) == key(other)


def _hash(self) -> int:
    """The fields' hash, computed once (a record never changes): shapes and ops are dictionary
    keys again and again in analysis."""
    try:
        return self.__dict__["_record_hash"]
    except KeyError:
        value = hash(self.__class__._record_hashed(self))
        self.__dict__["_record_hash"] = value
        return value


def _getstate(self) -> dict:
    """What pickle and copy keep: the fields, not the cached hash (a string's hash differs
    from one process to the next)."""
    state = self.__dict__.copy()
    state.pop("_record_hash", None)
    return state


@reprlib.recursive_repr()
def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__class__._record_shown)
    return f"{self.__class__.__qualname__}({shown})"


def _frozen_setattr(self, name: str, value) -> None:
    """A record's fields cannot be assigned, nor anything else on a record itself (a plain
    subclass's own attributes can, as with dataclasses)."""
    if name in self.__class__._record_names or "_record_names" in self.__class__.__dict__:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _frozen_delattr(self, name: str) -> None:
    if name in self.__class__._record_names or "_record_names" in self.__class__.__dict__:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    object.__delattr__(self, name)


def _first_init(self, *args, **kwargs) -> None:
    cls = realise(type(self))
    cls.__init__(self, *args, **kwargs)


def _first_setstate(self, state) -> None:  # unpickled or copied before any instance was made
    realise(type(self))
    self.__dict__.update(state)


def record(cls: type | None = None, /, *, eq: bool = True, one_write: bool = False):
    """`@dataclass(frozen=True)` (with `eq=False`: compared by identity), processed when the
    class's first instance is made. `one_write`: for a class made far more often than its fields
    are read (spans, summary rows), `__init__` writes the fields in one dict update, a third
    faster, and reading a field costs a little more (the instance keeps a dict of its own)."""

    def mark(klass: type) -> type:
        if "__init__" in klass.__dict__ or "__setstate__" in klass.__dict__:  # its own: a plain dataclass
            return dataclasses.dataclass(klass, frozen=True, eq=eq)
        _PENDING[klass] = (eq, one_write)
        klass.__init__, klass.__setstate__ = _first_init, _first_setstate
        return klass

    return mark if cls is None else mark(cls)


def fields(obj) -> tuple[dataclasses.Field, ...]:
    """`dataclasses.fields` for a record class or instance, the class realised first."""
    realise(obj if isinstance(obj, type) else type(obj))
    return dataclasses.fields(obj)
