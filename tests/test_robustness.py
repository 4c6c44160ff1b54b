"""No input, however broken, yields anything but a result or an ArchError with a place.

Token soups and mutations of the bundled specs (deleted, duplicated and swapped tokens,
truncation), and arithmetic against Python's own.
"""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archlang
from archlang import ArchError
from archlang.resources import specs_dir

VOCAB = [
    "network", "block", "use", "true", "false", "n", "b", "c", "conv3x3", "conv", "conv5", "maxpool", "fc",
    "relu", "bn", "flatten", "add", "concat", "residual", "identity", "lrn", "dropout", "globalavgpool",
    "0", "1", "2", "3", "64", "0.5", "1e-4", "3x8x8", "8", "6@4x4", "1x16",
    "(", ")", ",", "=", ":", "->", "|", "*", "+", "-", "//", "/", "%", "**", "k", "stride", "pad", "shortcut",
    '"x.arch"', "#", "\n", "\t",
]


def analyse_all(text: str) -> None:
    try:
        program = archlang.parse(text, "fuzz.arch")
        for name in program.networks:
            program.network(name)
    except ArchError as err:
        err.render()
        if err.span is not None:
            lines = text.splitlines() or [""]
            assert 1 <= err.span.line <= max(len(lines), 1) + 1, err.render()
            assert err.span.col >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(VOCAB), max_size=40))
def test_token_soup(tokens):
    analyse_all(" ".join(tokens))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VOCAB), max_size=30))
def test_token_soup_after_a_network_header(tokens):
    analyse_all("network n : 3x16x16 = " + " ".join(tokens))


SPECS = [p.read_text() for p in sorted(specs_dir().glob("*.arch"))]
TOKEN = re.compile(r"\w+|->|\*\*|//|\S")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SPECS), st.data())
def test_mutated_bundled_specs(text, data):
    tokens = TOKEN.findall(text)
    i = data.draw(st.integers(0, len(tokens) - 1))
    j = data.draw(st.integers(0, len(tokens) - 1))
    kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "truncate", "replace"]))
    if kind == "delete":
        del tokens[i]
    elif kind == "duplicate":
        tokens.insert(i, tokens[j])
    elif kind == "swap":
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif kind == "truncate":
        tokens = tokens[:i]
    else:
        tokens[i] = data.draw(st.sampled_from(VOCAB))
    analyse_all(" ".join(tokens))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    analyse_all(data.decode("utf-8", "replace"))


# arithmetic agrees with Python's
numbers = st.integers(-50, 50)


def expressions():
    return st.recursive(
        numbers.map(lambda n: (str(n) if n >= 0 else f"({n})", n)),
        lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner).map(
            lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})", (t[0][1], t[1], t[2][1]))
        ),
        max_leaves=8,
    )


def py_value(tree):
    if isinstance(tree, int):
        return tree
    a, op, b = tree
    a, b = py_value(a), py_value(b)
    if op in ("//", "%") and b == 0:
        raise ZeroDivisionError
    return {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0, "%": a % b if b else 0}[op]


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_arithmetic_matches_python(expr):
    text, tree = expr
    try:
        expected = py_value(tree)
    except ZeroDivisionError:
        expected = None
    spec = f"block b(v={text}) = fc(v * 0 + 1)\nnetwork n : 4 = b"
    from archlang.lower import Evaluator
    from archlang.parser import parse_module

    block = parse_module(spec).items[0]
    if expected is None:
        try:
            Evaluator(archlang.parse(spec).defs).eval(block.params[0].default, {})
        except ArchError as err:
            assert "division by zero" in err.message
            return
        raise AssertionError("division by zero was not reported")
    assert Evaluator(archlang.parse(spec).defs).eval(block.params[0].default, {}) == expected
