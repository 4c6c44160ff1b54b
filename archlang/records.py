"""Frozen dataclasses whose methods are made when the first instance is.

archlang's IR, syntax tree, ops and values are about 130 frozen dataclasses. Python 3.11's
`dataclasses` compiles each one's `__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` with six calls to `exec` as the class is defined: about
0.6 ms a class, 70 ms of every `archlang` command's start-up, for classes most commands never
make an instance of (a check of resnet152 makes a few dozen kinds of object, of 130).

`@record` is `@dataclass(frozen=True)` with that work deferred: the class is left as written
until something makes an instance (a call, or unpickling and copying, which set its state) or
asks for its fields through `records.fields`, then `dataclasses` processes it (its bases
first) and it is an ordinary frozen dataclass from then on. `dataclasses.fields`, `replace`,
`is_dataclass` and `asdict` work on every instance as they always do; before the first
instance, ask `records.fields(cls)`, which realises the class.
"""

from __future__ import annotations

import dataclasses

__all__ = ["record", "fields", "realise", "field"]

field = dataclasses.field

_PENDING: dict[type, dict] = {}  # class -> the dataclass options it waits to be processed with


def realise(cls: type) -> type:
    """Process `cls`, and every base still waiting, as the dataclass it was declared."""
    for klass in reversed(cls.__mro__):
        options = _PENDING.pop(klass, None)
        if options is not None:
            del klass.__init__, klass.__setstate__  # the placeholders: dataclasses adds the real __init__
            dataclasses.dataclass(klass, **options)
    return cls


def _first_init(self, *args, **kwargs) -> None:
    cls = realise(type(self))
    cls.__init__(self, *args, **kwargs)


def _first_setstate(self, state) -> None:  # unpickled or copied before any instance was made
    realise(type(self))
    self.__dict__.update(state)


def record(cls: type | None = None, /, *, eq: bool = True):
    """`@dataclass(frozen=True)` (with `eq=False`: compared by identity), processed when the
    class's first instance is made."""

    def mark(klass: type) -> type:
        if "__init__" in klass.__dict__ or "__setstate__" in klass.__dict__:  # its own: processed now
            return dataclasses.dataclass(klass, frozen=True, eq=eq)
        _PENDING[klass] = {"frozen": True, "eq": eq}
        klass.__init__, klass.__setstate__ = _first_init, _first_setstate
        return klass

    return mark if cls is None else mark(cls)


def fields(obj) -> tuple[dataclasses.Field, ...]:
    """`dataclasses.fields` for a record class or instance, the class realised first."""
    realise(obj if isinstance(obj, type) else type(obj))
    return dataclasses.fields(obj)
