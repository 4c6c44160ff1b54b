"""Issue 11's constraints on a network: shape assertions (`f : 6@28x28`), output declarations
(`network n : 1x32x32 -> 10`), budgets (`where params <= 5M`), and the errors around holes
(`?`) when nothing solves them: grammar, lowering, messages rendered whole."""

from __future__ import annotations

import logging

import pytest
from lark import Lark, logger

from archlang.analysis.budgets import BudgetError
from archlang.errors import ArgumentError, ShapeError
from archlang.lower.holes import UnsolvedHole
from archlang.resources import grammar_path

from .conftest import analyse, error_of, shapes

LENET = """network lenet : 1x32x32 -> 10 =
    conv5x5(6, pad=0) : 6@28x28 -> tanh -> avgpool : 6@14x14
    -> conv5x5(16, pad=0) : 16@10x10 -> tanh -> avgpool : 16x5x5
    -> flatten : 400 -> fc(120) -> tanh -> fc(84) -> tanh -> fc(10)
    where params <= 62k, params >= 61706, macs < 0.5M, macs > 416k, params == 61,706"""


def test_grammar_stays_lalr1_without_conflicts(caplog):
    """Lark resolves a shift/reduce conflict silently (as a shift) and says so only in debug
    mode: the grammar must give it nothing to resolve."""
    logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="lark"):
            Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual", debug=True)
    finally:
        logger.setLevel(logging.WARNING)
    assert not [r for r in caplog.records if "conflict" in r.getMessage().lower()]


def test_lenet_with_assertions_output_and_budgets_is_the_same_network():
    """Assertions, the output declaration and budgets leave no layer and no name behind."""
    text = LENET.replace(", params == 61,706", "")
    net = analyse(text)
    plain = analyse("network lenet : 1x32x32 = conv5x5(6, pad=0) -> tanh -> avgpool -> conv5x5(16, pad=0) -> tanh "
                    "-> avgpool -> flatten -> fc(120) -> tanh -> fc(84) -> tanh -> fc(10)")
    assert [(l.name, l.output_shape) for l in net.layers] == [(l.name, l.output_shape) for l in plain.layers]
    assert net.total_params == 61_706 and net.total_macs == 416_520


def test_an_assertion_binds_tighter_than_arrow_and_looser_than_star():
    net = analyse("network n : 3x8x8 = conv3x3(4) -> (conv3x3(4) -> relu) * 2 : 4x8x8 as x -> maxpool : 4@4x4 -> "
                  "concat(x -> maxpool | identity : 4x4x4) : 8x4x4")
    assert shapes(net)[-1] == "8x4x4"
    err = error_of("network n : 3x8x8 = conv3x3(4, stride=2) -> relu * 2 : 4x8x8")
    assert "4x4x4, not 4x8x8" in err.message  # the repeat of relu, after the strided conv


def test_a_question_mark_in_an_assertion_matches_any_size():
    assert shapes(analyse("network n : 3x9x7 = conv3x3(4) : 4x?x7 -> flatten : ?"))[-1] == "252"


def test_a_failed_assertion_names_both_shapes_and_the_layer_that_made_it():
    err = error_of("network n : 1x32x32 =\n    conv5x5(6) : 6@28x28 -> relu")
    assert isinstance(err, ShapeError)
    assert err.render() == (
        "t.arch:2:18: error: the shape here is 6x32x32, not 6@28x28 as asserted\n"
        "        conv5x5(6) : 6@28x28 -> relu\n"
        "                     ^^^^^^^\n"
        "  spatial sizes: 32x32, not 28x28\n"
        "t.arch:2:5: note: 6x32x32 is what conv1 (conv 5x5, 6) gives\n"
        "        conv5x5(6) : 6@28x28 -> relu\n"
        "        ^^^^^^^^^^\n"
        "  hint: change the layers before it to give this shape, or the assertion to say what they give"
    )


@pytest.mark.parametrize("text, words", [
    ("network n : 3x8x8 = conv3x3(4) : 5x8x8", "channels: 4, not 5"),
    ("network n : 3x8x8 = conv3x3(4) : 256", "4x8x8 has channels and 2 spatial axes; 256 has a flat vector"),
    ("network n : 3x8x8 = flatten : 190", "features: 192, not 190"),
    ("network n : 3x8x8 = identity : 3x8x8 -> conv3x3(4) : 4x8", "4x8 has channels and 1 spatial axis"),
])
def test_assertion_differences_are_said_axis_by_axis(text, words):
    err = error_of(text)
    assert words in " ".join([err.message, *err.detail]), err.render()


def test_an_assertion_on_the_input_itself_names_the_input():
    err = error_of("network n : 3x8x8 = identity : 3x9x9")
    assert err.notes[0].message == "3x8x8 is what the input gives"


def test_output_declarations_single_and_several():
    assert analyse("network n : 3x8x8 -> 10 = flatten -> fc(10)").output_shape == (10,)
    net = analyse("network n(a : 3x8x8, b : 3x8x8) -> (4x8x8, 3x4x4) = (a -> conv3x3(4), b -> maxpool)")
    assert [t.shape for _, t in net.outputs] == [(4, 8, 8), (3, 4, 4)]
    err = error_of("network n : 3x8x8 -> 12 =\n    flatten -> fc(10)")
    assert err.message == "the shape here is 10, not 12 as network n declares"
    err = error_of("network n : 3x8x8 -> (10, 3x8x8) = flatten -> fc(10)")
    assert err.message == "network n declares 2 outputs but its body gives one output"


@pytest.mark.parametrize("budget, message", [
    ("params <= 45k", "n has 47,206 params: 2,206 over the budget params <= 45k"),
    ("params < 47206", "n has 47,206 params: 1 over the budget params < 47206"),
    ("macs > 1M", "n has 164,640 macs: 835,361 short of the budget macs > 1M"),
    ("macs >= 0.2M", "n has 164,640 macs: 35,360 short of the budget macs >= 0.2M"),
    ("params == 47k", "n has 47,206 params: 206 over the budget params == 47k"),
    ("params <= 1G, macs == 1.5G", "n has 164,640 macs: 1,499,835,360 short of the budget macs == 1.5G"),
])
def test_budgets_say_the_figure_and_by_how_much_they_miss(budget, message):
    err = error_of(f"network n : 1x32x32 = conv5x5(6, pad=0) -> relu -> flatten -> fc(10) where {budget}")
    assert isinstance(err, BudgetError) and err.message == message, err.render()


def test_budgets_that_hold_change_nothing():
    net = analyse("network n : 1x32x32 = conv5x5(6, pad=0) -> flatten -> fc(10) where params <= 47206, macs > 164k,"
                  " params < 1G")
    assert net.total_params == 47_206


@pytest.mark.parametrize("text, kind, message", [
    ("network n : 3x8x8 = relu where flops < 1G", ArgumentError,
     "a budget on 'flops', which archlang does not count (archlang counts multiply-accumulates: FLOPs are usually 2 x macs)"),
    ("network n : 3x8x8 = relu where parms < 1G", ArgumentError, "a budget on 'parms', which archlang does not count"),
    ("network n : 3x8x8 = relu where params != 5", ArgumentError, "a budget compares with <, <=, >, >=, ==, not '!='"),
    ("network n : 3x8x8 = relu where params <= 1.0005k", Exception, "a budget counts whole parameters or MACs; 1.0005k is 1000.5"),
])
def test_bad_budgets(text, kind, message):
    err = error_of(text)
    assert isinstance(err, kind) and err.message == message, err.render()


@pytest.mark.parametrize("text, kind, message", [
    ("network n : 1x32x32 = conv(6, k=?, pad=?p) : 6@28x28", UnsolvedHole, "? leaves a value open"),
    ("network n : 1x32x32 = conv3x3(6) * ?n", UnsolvedHole, "?n leaves a value open"),
    ("network n : 1x32x32 = conv3x3(6) -> dropout(?)", ArgumentError,
     "a hole stands for a whole number, but dropout's 'p' is a probability"),
    ("network n : 1x32x32 = conv3x3(6) -> bn(eps=?)", ArgumentError,
     "a hole stands for a whole number, but bn's 'eps' is a positive number"),
    ("network n : 1x32x32 = conv3x3(6) -> ?", ArgumentError, "expected a layer in a chain, but a hole stands for a whole number"),
    ("network n : ?x32x32 = conv3x3(6)", ShapeError, "the input's channel count cannot be open"),
    ("network n : 3x?x? = conv3x3(6)", ShapeError, "the input's sizes are open (3x?x?); analysing the network needs them"),
])
def test_holes_outside_solve_are_located_errors(text, kind, message):
    err = error_of(text)
    assert isinstance(err, kind) and err.message.startswith(message), err.render()
