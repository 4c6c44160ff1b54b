"""Shared helpers: analyse a spec text, or get the ArchError it raises."""

from __future__ import annotations

import pytest

import archlang
from archlang import ArchError


def analyse(text: str, name: str | None = None, filename: str = "t.arch"):
    program = archlang.parse(text, filename)
    return program.network(name)


def error_of(text: str, filename: str = "t.arch") -> ArchError:
    with pytest.raises(ArchError) as info:
        program = archlang.parse(text, filename)
        for n in program.networks:
            program.network(n)
    return info.value


def shapes(net) -> list[str]:
    return ["x".join(map(str, info.output_shape)) for info in net.layers]


BUNDLED = sorted(archlang.bundled_networks())
