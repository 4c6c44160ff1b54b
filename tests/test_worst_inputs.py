"""The slowest specs within the limits (tests/worst_inputs.py): each ends as it should, and the
work it takes is bounded by the limits and grows in proportion to them.

Work is counted, not timed (the machines are shared): the Python calls made from reading the
text to the analysed network, as cProfile counts them, which is the same on every run. Every
spec the limits allow is lowered in at most CALLS_PER_STEP calls per step of the work limit
(`Limits.max_steps`), and doubling the limits at most doubles the calls (within a margin).
bench/worst_inputs.py times the same specs at the documented limits.
"""

from __future__ import annotations

import cProfile
import pstats

import pytest

import archlang
from archlang.errors import ArchError
from archlang.lower import Limits

from .worst_inputs import worst_inputs

CALLS_PER_STEP = 8  # the most the cheapest step (an identity in a repeat) takes is 5
SIZES = (2_000, 4_000)  # layer and repeat limits: large enough that each input reaches its limit


def counted(text: str, limits: Limits) -> tuple[str, int]:
    """(the outcome: "checked" or the error's message, the calls it took)."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        program = archlang.parse(text, "worst.arch", limits=limits)
        for name in program.networks:
            program.network(name)
        outcome = "checked"
    except ArchError as err:
        outcome = err.message
    finally:
        profile.disable()
    return outcome, pstats.Stats(profile).total_calls


@pytest.mark.parametrize("case", list(worst_inputs()))
def test_worst_inputs_end_as_they_should_in_work_bounded_by_the_limits(case):
    calls = []
    for size in SIZES:
        limits = Limits(max_nodes=size, max_repeat=size, max_tokens=21 * size // 10)  # as the defaults stand
        text, expected = worst_inputs(limits)[case]
        outcome, count = counted(text, limits)
        assert expected in outcome, (size, outcome)
        assert count <= CALLS_PER_STEP * limits.max_steps, (size, count)
        calls.append(count)
    assert calls[1] <= 2.3 * calls[0], calls
