"""Shared helpers: analyse a spec text, or get the ArchError it raises."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

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


# Property tests: CI runs the "ci" profile; `make fuzz` runs "fuzz" (HYPOTHESIS_PROFILE=fuzz).
# The deadline is generous on purpose: it catches hangs, not slow machines.
_common = dict(deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=150, **_common)
settings.register_profile("fuzz", max_examples=20_000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
