"""archlang/records.py: frozen dataclasses processed at their first instance behave as
dataclasses do, however that first instance comes (a call, unpickling, a copy), and every record
in the package is a valid dataclass (a mistake in one would otherwise show only when first used)."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
import subprocess
import sys
from typing import ClassVar

import pytest

import archlang
from archlang import records
from archlang.records import field, record


@record
class Base:
    x: int
    label: str = "a"
    note: str = field(default="", compare=False)
    kind: ClassVar[str] = "base"


@record
class Derived(Base):
    extra: tuple = ()


@record(eq=False)
class ByIdentity:
    v: int


@record(one_write=True)
class OneWrite(Base):
    extra: tuple = ()
    items: list = field(default_factory=list, compare=False)


def test_one_write_records_behave_as_records():
    """`one_write` changes only how `__init__` stores the fields (one dict update)."""
    a = OneWrite(1, "b", "n", (2,))
    assert a == OneWrite(1, "b", "other", (2,)) and hash(a) == hash(OneWrite(1, "b", "", (2,)))
    assert repr(a) == "OneWrite(x=1, label='b', note='n', extra=(2,), items=[])" and a.items is not OneWrite(1).items
    assert pickle.loads(pickle.dumps(a)) == a and copy.copy(a) == a and dataclasses.replace(a, x=3).x == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.extra = ()
    assert OneWrite.__init__ is not Derived.__init__ and "update" in OneWrite.__init__.__code__.co_names


def test_a_record_is_a_frozen_dataclass():
    d = Derived(1, "b", "n", (2,))
    assert d == Derived(1, "b", "other note", (2,)) and hash(d) == hash(Derived(1, "b", "", (2,)))
    assert repr(d) == "Derived(x=1, label='b', note='n', extra=(2,))"
    assert dataclasses.replace(d, x=5).x == 5 and dataclasses.is_dataclass(d)
    assert [f.name for f in dataclasses.fields(Base)] == ["x", "label", "note"]  # the base processed first
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.x = 2
    assert ByIdentity(1) != ByIdentity(1)
    assert Base(1) != Derived(1) and dataclasses.asdict(Base(1)) == {"x": 1, "label": "a", "note": ""}
    with pytest.raises(dataclasses.FrozenInstanceError):
        del d.label

    class Plain(Base):  # not a record itself: its own attributes may be set, its fields not
        pass

    p = Plain(3)
    p.other = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 4
    assert p == Plain(3) and hash(p) == hash(Plain(3)) and repr(p).endswith("<locals>.Plain(x=3, label='a', note='')")


def test_fields_of_a_class_before_any_instance():
    @record
    class Fresh:
        a: int
        b: int = 2

    assert Fresh in records._PENDING
    assert [f.name for f in records.fields(Fresh)] == ["a", "b"] and Fresh not in records._PENDING


def test_unpickled_and_copied_before_the_first_instance():
    """A process whose first TensorType comes out of a pickle (a worker's result) still gets
    the dataclass's equality and hash."""
    shape = archlang.TensorType((3, 32, 32))
    code = ("import pickle, sys\nfrom archlang.ir import TensorType\n"
            "t = pickle.loads(sys.stdin.buffer.read())\n"
            "assert t == TensorType((3, 32, 32)) and hash(t) == hash(TensorType((3, 32, 32))), t\n"
            "assert repr(t).startswith('TensorType(')\n")
    subprocess.run([sys.executable, "-c", code], input=pickle.dumps(shape), check=True)
    named = archlang.Span(archlang.errors.Source("a name", "x"), 1, 1, 1, 2)
    hash(named)  # cached here; a string's hash differs in the next process, so the cache stays here
    assert "_record_hash" not in pickle.loads(pickle.dumps(named)).__dict__

    @record
    class Late:
        a: int

    made = object.__new__(Late)
    made.__setstate__({"a": 1})  # how pickle and copy fill an object they did not call
    assert made == Late(1) and copy.deepcopy(made) == made


def test_every_record_in_the_package_is_a_valid_dataclass():
    for info in pkgutil.walk_packages(archlang.__path__, "archlang."):
        if not info.name.endswith("__main__"):  # which would run the command line
            importlib.import_module(info.name)
    for cls in list(records._PENDING):
        records.realise(cls)
    assert not records._PENDING
