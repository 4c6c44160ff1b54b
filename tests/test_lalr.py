"""Stage 1's engine against lark: lalr.py, running the tables lark generates, must build what
lark's standalone parser builds (the parser parse_module ran before), on every bundled spec and
on generated and mutated texts, valid or not:
- the same reductions: each node's rule, position and children, tokens with their places
  (lark's tree walked children first, as lalr.py reduces);
- the same errors: lark's exception, token, place and expected terminals;
- the same syntax records and rendered ArchErrors from parse_module as from
  parser._parse_with_lark (lark's tree into the same builder).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archlang import lalr
from archlang.errors import ArchError, LimitError
from archlang.parser import MAX_DEPTH, _lark, _parens, _parse_with_lark, parse_module
from archlang.resources import specs_dir

SPECS = {p.name: p.read_text(encoding="utf-8") for p in sorted(specs_dir().glob("*.arch"))}


class _Trace:
    """A builder that records each node it is asked for: (rule, position, children), a child
    node as ("node", its number), a token as lalr.py's tuple."""

    def __init__(self) -> None:
        self.nodes: list = []

    def __getattr__(self, name: str):
        def make(place, children):
            self.nodes.append((name, place, tuple(children)))
            return ("node", len(self.nodes) - 1)

        return make


def _lark_trace(tree) -> list:
    trace = _Trace()

    def walk(node):
        if not hasattr(node, "data"):
            return node.line, node.column, node.end_line, node.end_column, node.type, str(node), node.start_pos
        children = [walk(child) for child in node.children]
        meta = node.meta
        place = None if meta.empty else (meta.line, meta.column, meta.end_line, meta.end_column)
        return getattr(trace, node.data)(place, children)

    walk(tree)
    return trace.nodes


def _raw_error(err) -> tuple:
    """What lark says of a syntax error, as parser._syntax_error reads it."""
    token = getattr(err, "token", None)
    place = None
    if token is not None:
        place = (token.type, str(token))
        if token.type != "$END":
            place += (token.start_pos, token.line, token.column, token.end_line, token.end_column)
    return (type(err).__name__, getattr(err, "line", None), getattr(err, "column", None), place,
            frozenset(getattr(err, "expected", None) or ()), frozenset(getattr(err, "allowed", None) or ()))


def _both(text: str) -> tuple:
    from archlang._parser_standalone import UnexpectedInput

    try:
        ours = _Trace()
        lalr.parse(text, ours)
        ours = ours.nodes
    except UnexpectedInput as err:
        ours = _raw_error(err)
    try:
        theirs = _lark_trace(_lark().parse(text))
    except UnexpectedInput as err:
        theirs = _raw_error(err)
    return ours, theirs


def _outcome(parse, text: str):
    try:
        return parse(text, "t.arch").items
    except ArchError as err:
        return type(err).__name__, err.render()


def assert_same(text: str) -> None:
    ours, theirs = _both(text)
    assert ours == theirs, text
    assert _outcome(parse_module, text) == _outcome(_parse_with_lark, text), text


@pytest.mark.parametrize("name", sorted(SPECS))
def test_bundled_specs(name):
    assert_same(SPECS[name])
    parse_module(SPECS[name])


TRICKY = [
    "", "   \n\t", "# only a comment", "# comment at the end without a newline\nnetwork n : 3 = relu # end",
    "\ufeffnetwork n : 3 = relu", "network n : 3 = relu\ufeff -> bn", "network\r\nn\r\n:\r\n3\r\n=\r\nrelu\r\n",
    "network n :\t3x8x8 =\t\tconv3x3(8)\t->\trelu", "networkn : 3 = relu", "network network : 3 = relu",
    "network n : 3 = iffy -> fortune -> notable -> trueish -> falsey -> input -> asx",
    "network n : 3 = if true then relu else bn", "network n : 3 = for i in 3 : relu", "network n : 3 = not",
    "network n : ?x3 = relu", "network n : 3 = fc(?x3)", "network n : 3 = fc(?k, ?)", "network n : [8]x4 = relu",
    "network n : 3x = relu", "network n : 3 = fc(1.5e3, .5, 5., 1e-4, 07)", "network n : 3 = fc(5M)",
    "network n : 3 = relu where params <= 5M, macs < 1.5G", "network n : 3 -> (4, 5,) = relu",
    "network n(a : 3, b : 4,) -> 4 = add(a, b)", "block b(c, n=2,) : (x, y) = add(x, y)\n",
    'use "blocks.arch"', "use 'blocks.arch'", 'use "unterminated\n', "network n : 3 = relu @",
    "network n : 3 = relu → bn", "network n : 3 = relu -> résnet", "network n : 3 = (relu, bn,) -> (relu)",
    "network n : 3 = a -> b | c -> d as e : 3x3 -> f", "network n : 3 = fc(1 + 2 * 3 ** -4 // 5 % 6 - 7)",
    "network n : 3 = fc(a == b != c <= d >= e < f > g and h or not i)", "network n : 3 = conv(k=3, 8)",
    "network n : 3 = conv3x3(8)(4)", "network n : 3 =", "network", "network n : 3 = relu)", "block",
    "network n : 3 = fc(" + "9" * 40 + ")", "network n : 3 = x:", "network n : 3 = relu\nuse", "@",
    "network n : 3 = fc(1) -> use", "network n : 3 = relu block", "network n : 3 = " + "(" * 64 + "x" + ")" * 64,
    "network n : 3 = relu\n\n\n   -> rleu # x\n", 'network n : 3 = relu "x"', "network n : 3 = 6@28x28",
    "network n : 3 = fc(1,, 2)", "network n : 3 = fc(1 2)", "block b(c) = conv3x3(c) -> fc(3)\nnetwork n : 3 = b(4)",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_texts(text):
    assert_same(text)


VOCAB = [
    "network", "block", "use", "true", "false", "n", "b", "c", "conv3x3", "fc", "relu", "bn", "add", "x",
    "0", "1", "64", "0.5", ".5", "1e-4", "3x8x8", "6@4x4", "[8]x4", "[5]", "?", "?k", "?x3", "5M", "1.5k",
    "(", ")", ",", "=", ":", "->", "|", "*", "+", "-", "//", "/", "%", "**", "==", "<", ">=", "!=",
    '"x.arch"', "'", "#", "as", "if", "then", "else", "and", "or", "not", "for", "in", "where", "@", "é", "\ufeff",
]
SEPARATORS = st.sampled_from([" ", " ", " ", "", "\n", "\t", "\r\n", " # note\n", "  "])


@given(st.lists(st.tuples(st.sampled_from(VOCAB), SEPARATORS), max_size=30))
def test_token_soup(pieces):
    assert_same("network n : 3x8x8 = " + "".join(word + sep for word, sep in pieces))


@given(st.lists(st.tuples(st.sampled_from(VOCAB), SEPARATORS), max_size=30))
def test_token_soup_from_the_start(pieces):
    assert_same("".join(word + sep for word, sep in pieces))


def _expressions():
    atoms = st.sampled_from(["relu", "bn", "x", "7", "0.5", "true", "?", "?k", "conv3x3(8)", "fc(10, bias=false)"])

    def grow(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["->", "|", "+", "-", "*", "**", "//", "==", "and", "or"]), inner)
            .map(" ".join),
            inner.map(lambda e: f"({e})"), inner.map(lambda e: f"-{e}"), inner.map(lambda e: f"not {e}"),
            st.lists(inner, min_size=1, max_size=3).map(lambda es: f"add({', '.join(es)})"),
            st.lists(inner, min_size=2, max_size=3).map(lambda es: f"({', '.join(es)})"),
            inner.map(lambda e: f"f(k={e})"), inner.map(lambda e: f"{e} as a"), inner.map(lambda e: f"{e} : 3x8x8"),
            st.tuples(inner, inner, inner).map(lambda t: f"if {t[0]} then {t[1]} else {t[2]}"),
            inner.map(lambda e: f"for i in 3 : {e}"),
        )

    return st.recursive(atoms, grow, max_leaves=12)


@given(_expressions(), st.sampled_from(["network n : 3x8x8 = {}", "block b(c, d=2) = {}\n", "network n : 3 = {}\n"]))
def test_generated_expressions(expression, frame):
    assert_same(frame.format(expression))


@given(st.sampled_from(sorted(SPECS)), st.data())
def test_mutated_specs(name, data):
    text = SPECS[name]
    i = data.draw(st.integers(0, len(text)))
    kind = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
    if kind == "truncate":
        text = text[:i]
    else:
        piece = "" if kind == "delete" else data.draw(st.sampled_from(VOCAB + [" ", "\n", "(", ")", "#"]))
        text = text[:i] + piece + text[i + (kind != "insert"):]
    assert_same(text)


def test_errors_wait_for_the_parse_as_after_lark():
    """A rule's error (a number too large) is raised only once the text has parsed: a syntax
    error after it wins, as when lark's tree was built first and transformed afterwards."""
    big = "fc(" + "9" * 40 + ")"
    with pytest.raises(LimitError, match="too large"):
        parse_module(f"network n : 3 = {big} -> relu")
    err = _outcome(parse_module, f"network n : 3 = {big} -> relu relu")
    assert err[0] == "ArchSyntaxError" and "unexpected 'relu'" in err[1]
    assert err == _outcome(_parse_with_lark, f"network n : 3 = {big} -> relu relu")


@pytest.mark.parametrize("open_at_once", [  # a text with this many constructs open at its deepest
    lambda k: "network n : 4 = " + "if true then relu else " * k + "relu",
    lambda k: "network n : 4 = " + "".join(f"for i{j} in 1 : " for j in range(k)) + "relu",
    lambda k: "network n : 4 = fc(" + "-" * (k - 1) + "1)",
    lambda k: "network n : 4 = fc(" + "not " * (k - 1) + "true)",
])
def test_nesting_limit(open_at_once):
    """More than MAX_DEPTH constructs open at once ('(', unary '-', 'not', '**', 'if', 'for')
    are refused, as lark's recursive transform refused them near there; the first error in the
    text wins, as it did there, and a syntax error anywhere wins over both."""
    try:
        parse_module(open_at_once(MAX_DEPTH))
    except LimitError as err:  # '-' and 'not' this deep are more than MAX_OPERATORS
        assert "operators" in err.message
    err = _outcome(parse_module, open_at_once(MAX_DEPTH + 1))
    assert err[0] == "LimitError" and "expressions are nested too deeply" in err[1]
    first = _outcome(parse_module, "network m : 3 = fc(" + "9" * 40 + ")\n" + open_at_once(MAX_DEPTH + 1))
    assert "too large" in first[1]
    last = _outcome(parse_module, open_at_once(MAX_DEPTH + 1) + "\nnetwork m : 3 = fc(" + "9" * 40 + ")")
    assert "nested too deeply" in last[1]
    assert "unexpected" in _outcome(parse_module, open_at_once(MAX_DEPTH + 1) + " relu")[1]


def test_token_limit(tmp_path):
    """A file of more than Limits.max_tokens tokens is refused at the first token past the limit,
    at once (1 MiB of `1+1+...` is a million tokens: seconds of parsing); every file a spec uses
    counts alone, and the command line raises the limit as Limits does."""
    import archlang
    from archlang.cli import main
    from archlang.lower import Limits

    text = "network n : 4 =\n    fc(1 + 2) -> relu"  # 13 tokens: network n : 4 = fc ( 1 + 2 ) -> relu
    assert parse_module(text, max_tokens=13).items[0].name == "n"
    assert archlang.parse(text, limits=Limits(max_tokens=13)).network().total_params == 15
    with pytest.raises(LimitError, match="more than 9 tokens") as err:
        archlang.parse(text, limits=Limits(max_tokens=9))
    assert (err.value.span.line, err.value.span.col) == (2, 12)  # the tenth: '2'
    assert "--max-tokens" in err.value.hint
    (tmp_path / "used.arch").write_text("block b = fc(1 + 2)\n")  # 9 tokens
    (tmp_path / "main.arch").write_text('use "used.arch"\nnetwork n : 4 = b\n')  # 8 tokens
    assert archlang.load(tmp_path / "main.arch", limits=Limits(max_tokens=9)).network().total_params == 15
    with pytest.raises(LimitError, match="more than 8 tokens") as err:
        archlang.load(tmp_path / "main.arch", limits=Limits(max_tokens=8))
    assert err.value.span.source.name.endswith("used.arch")
    spec = str(tmp_path / "main.arch")
    assert main(["check", spec, "--json", "--max-tokens", "8"]) != 0
    assert main(["check", spec, "--json", "--max-tokens", "9"]) == 0


def test_paren_scan_skips_comments_and_strings():
    """_parens (a regexp now) gives the depths the character loop it replaced gave."""

    def by_hand(text):
        depth, i, out = 0, 0, []
        while i < len(text):
            ch = text[i]
            if ch == "#":
                nl = text.find("\n", i)
                i = len(text) if nl < 0 else nl
                continue
            if ch == '"':
                close = text.find('"', i + 1)
                if 0 <= close and "\n" not in text[i:close]:
                    i = close + 1
                    continue
            elif ch in "()":
                depth = depth + 1 if ch == "(" else max(0, depth - 1)
                out.append((i, depth))
            i += 1
        return out

    pieces = ["(", ")", "#", '"', "\n", "x", " ", "((", "))"]
    import random

    rng = random.Random(7)
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        assert list(_parens(text)) == by_hand(text), text
    for text in SPECS.values():
        assert list(_parens(text)) == by_hand(text)


def test_parsing_loads_neither_lark_nor_its_standalone_parser():
    """parse_module runs on lalr.py and the tables alone: lark's standalone module (10 ms to
    import) is loaded only to raise a syntax error, or by `lex`."""
    code = ("import sys, archlang; archlang.parse('network n : 3 = relu # r').network('n'); "
            "print(sorted(m for m in sys.modules if 'lark' in m or 'standalone' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"


def test_tables_hold_lark_tables_and_patterns():
    """A few facts of _parse_tables.py that the driver relies on, read against lark's own
    standalone data: the same states, actions and rules."""
    from archlang import _parse_tables as T
    from archlang._parser_standalone import DATA

    table = DATA["parser"]["parser"]
    assert len(T.ACTIONS) == len(table["states"]) and T.START == table["start_states"]["start"]
    assert T.END == table["end_states"]["start"] and len(T.RULES) == len(DATA["parser"]["parser_conf"]["rules"])
    names = table["tokens"]
    for state, acts in table["states"].items():
        assert set(T.ACTIONS[state]) == {names[t] for t in acts}
        for t, (kind, arg) in acts.items():
            assert T.ACTIONS[state][names[t]] == arg if kind == 0 else T.ACTIONS[state][names[t]] < 0
    assert re.fullmatch(T.SKIP + "*", " \t\r\n# x\n") and not re.match(T.SKIP, "x")
