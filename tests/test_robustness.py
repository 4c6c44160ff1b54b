"""No input, however broken, yields anything but a result or an ArchError with a place.

Specs generated from the grammar, token soups, mutations of the bundled specs (deleted,
duplicated, swapped and replaced tokens, truncation), random bytes, and arithmetic against
Python's own. The number of examples comes from the hypothesis profile (conftest.py): CI
runs a bounded number, `make fuzz` many more.
"""

import re

from hypothesis import given
from hypothesis import strategies as st

import archlang
from archlang import ArchError
from archlang.ops import canonical_ops
from archlang.resources import specs_dir

VOCAB = [
    "network", "block", "use", "true", "false", "n", "b", "c", "conv3x3", "conv", "conv5", "maxpool", "fc",
    "relu", "bn", "flatten", "add", "concat", "residual", "identity", "lrn", "dropout", "globalavgpool",
    "0", "1", "2", "3", "64", "0.5", "1e-4", "3x8x8", "8", "6@4x4", "1x16",
    "(", ")", ",", "=", ":", "->", "|", "*", "+", "-", "//", "/", "%", "**", "k", "stride", "pad", "shortcut",
    '"x.arch"', "#", "\n", "\t",
]


SMALL = archlang.Limits(max_nodes=5_000, max_repeat=1_000)  # keeps every example fast and small


def analyse_all(text: str) -> None:
    try:
        program = archlang.parse(text, "fuzz.arch", limits=SMALL)
        for name in program.networks:
            program.network(name)
    except ArchError as err:
        err.render()
        assert err.span is not None, err.render()  # every error points into the text
        lines = text.splitlines() or [""]
        assert 1 <= err.span.line <= len(lines), err.render()
        assert 1 <= err.span.col <= len(lines[err.span.line - 1]) + 2, err.render()


@given(st.lists(st.sampled_from(VOCAB), max_size=40))
def test_token_soup(tokens):
    analyse_all(" ".join(tokens))


@given(st.lists(st.sampled_from(VOCAB), max_size=30))
def test_token_soup_after_a_network_header(tokens):
    analyse_all("network n : 3x16x16 = " + " ".join(tokens))


SPECS = [p.read_text() for p in sorted(specs_dir().glob("*.arch"))]
TOKEN = re.compile(r"\w+|->|\*\*|//|\S")


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


# ---- specs generated from the grammar: syntactically valid, semantically anything

OPS = sorted(op.name for op in canonical_ops() if not op.merge)
SUFFIXED = ["conv3x3", "conv1x1", "conv5", "conv3x3x3", "conv1x7", "maxpool3x3", "avgpool2", "maxpool2x2x2"]
ARG_NAMES = ["c", "k", "stride", "pad", "dilation", "groups", "bias", "p", "size", "slope", "eps", "alpha", "n"]

numbers = st.one_of(st.integers(-2, 12), st.sampled_from(["0.5", "1e-4", "2.0", "c", "n", "2*c", "c//2", "n-1"]))
values = st.one_of(numbers.map(str), st.sampled_from(["true", "false", "(1, 3)", "(2, 2, 2)", "relu", "bn", "identity"]))


def _call(name_strategy):
    args = st.lists(values, max_size=3)
    kwargs = st.lists(st.tuples(st.sampled_from(ARG_NAMES), values), max_size=2)
    return st.builds(
        lambda name, a, kw, parens: name + (f"({', '.join(a + [f'{k}={v}' for k, v in kw])})" if parens else ""),
        name_strategy, args, kwargs, st.booleans(),
    )


def chains(names):
    layer = _call(names)

    def extend(inner):
        return st.one_of(
            st.lists(inner, min_size=2, max_size=4).map(" -> ".join),
            st.tuples(inner, st.integers(-1, 4)).map(lambda t: f"({t[0]}) * {t[1]}"),
            st.lists(inner, min_size=2, max_size=3).map(lambda b: f"add({' | '.join(b)})"),
            st.lists(inner, min_size=2, max_size=3).map(lambda b: f"concat({' | '.join(b)})"),
            inner.map(lambda b: f"residual({b})"),
            st.tuples(inner, inner).map(lambda t: f"residual({t[0]}, shortcut={t[1]})"),
        )

    return st.recursive(layer, extend, max_leaves=10)


shapes = st.lists(st.integers(1, 12), min_size=1, max_size=4).map(lambda d: "x".join(map(str, d)))


@st.composite
def specs(draw):
    blocks = draw(st.lists(st.sampled_from(["blk", "unit", "stage"]), max_size=2, unique=True))
    names = st.sampled_from(OPS + SUFFIXED + blocks)
    lines = []
    for b in blocks:
        params = draw(st.sampled_from(["", "(c)", "(c, n=2)", "(c=4, act=relu)"]))
        lines.append(f"block {b}{params} = {draw(chains(st.sampled_from(OPS + SUFFIXED)))}")
    lines.append(f"network net : {draw(shapes)} = {draw(chains(names))}")
    return "\n".join(lines) + "\n"


@given(specs())
def test_specs_from_the_grammar(text):
    analyse_all(text)


# ---- names that are keywords elsewhere reach Python source and DOT safely

import keyword  # noqa: E402

HOSTILE_NAMES = sorted(set(keyword.kwlist) | {"node", "edge", "graph", "digraph", "subgraph", "strict", "self",
                                              "torch", "nn", "x", "forward", "Module", "cluster_0", "n0", "legend",
                                              "output", "input_", "_", "__class", "label", "init"})


@given(st.sampled_from(HOSTILE_NAMES), st.sampled_from(HOSTILE_NAMES))
def test_hostile_names_reach_generated_code_safely(net_name, block_name):
    import ast as python_ast
    import xml.etree.ElementTree as ET

    from archlang.backends.dot import render_bytes
    from archlang.backends.python_source import python_source

    text = f"block {block_name}(c=4) = conv3x3(c) -> relu\nnetwork {net_name} : 3x8x8 = {block_name} -> {block_name}(8)\n"
    try:
        net = archlang.parse(text, 'x".arch').network(net_name)
    except ArchError as err:
        assert err.span is not None  # keywords of the language itself, reserved names
        return
    source = python_source([net.graph], 'x"\n.arch')
    tree = python_ast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, python_ast.ClassDef)]
    assert len(classes) == 1 and not keyword.iskeyword(classes[0])
    ET.fromstring(render_bytes(net.graph, "svg"))
