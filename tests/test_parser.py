"""Stage 1: text -> surface tree. Constructs, positions, and syntax errors."""

import re

import pytest

from archlang import syntax as S
from archlang.errors import ArchSyntaxError, DefinitionError, LimitError
from archlang.parser import parse_module

from .conftest import error_of


def body(text: str):
    (item,) = parse_module(f"network n : 3x8x8 = {text}").items
    return item.body


def test_repeat_binds_tighter_than_arrow():
    b = body("conv3x3 * 2 -> maxpool")
    assert isinstance(b, S.Chain)
    rep, pool = b.items
    assert isinstance(rep, S.BinOp) and rep.op == "*"
    assert rep.left.id == "conv3x3" and rep.right.value == 2
    assert isinstance(pool, S.Name) and pool.id == "maxpool"


def test_arithmetic_precedence_and_power():
    b = body("fc(4*c + 1)")
    (arg,) = b.args
    assert arg.op == "+" and arg.left.op == "*"
    b = body("fc(-2**3)")
    assert isinstance(b.args[0], S.Neg) and b.args[0].operand.op == "**"


def test_branches_and_keywords():
    b = body("add(conv3x3(64, stride=2) -> bn | identity)")
    (alt,) = b.args
    assert isinstance(alt, S.Alt) and len(alt.branches) == 2
    conv = alt.branches[0].items[0]
    assert conv.kwargs[0].name == "stride" and conv.kwargs[0].value.value == 2


def test_tuples_floats_booleans():
    b = body("conv(8, k=(1, 7), bias=false) -> dropout(0.5) -> lrn(alpha=1e-4)")
    conv, drop, lrn = b.items
    assert isinstance(conv.kwargs[0].value, S.Tuple)
    assert conv.kwargs[1].value.value is False
    assert drop.args[0].value == 0.5
    assert lrn.kwargs[0].value.value == 1e-4


@pytest.mark.parametrize("shape,dims", [("3x224x224", (3, 224, 224)), ("6@28x28", (6, 28, 28)),
                                        ("1x16000", (1, 16000)), ("3x16x112x112", (3, 16, 112, 112)), ("784", (784,))])
def test_shapes(shape, dims):
    (net,) = parse_module(f"network n : {shape} = relu").items
    assert net.shape.dims == dims


def test_positions_are_one_based_and_exact():
    module = parse_module("# comment\nblock b(c, n=2) =\n    conv3x3(c) * n\n", "f.arch")
    (block,) = module.items
    assert (block.name_span.line, block.name_span.col) == (2, 7)
    rep = block.body
    assert (rep.span.line, rep.span.col, rep.span.end_col) == (3, 5, 19)
    assert str(rep.span) == "f.arch:3:5"


def test_newlines_comments_crlf_bom_tabs():
    text = "\ufeff# header\r\nnetwork n :\t1x4x4 =  # the input\r\n\tconv3x3\r\n\t-> relu   # done\r\n"
    (net,) = parse_module(text).items
    assert [i.id if isinstance(i, S.Name) else i for i in net.body.items] == ["conv3x3", "relu"]


def test_use_and_several_definitions():
    module = parse_module('use "blocks.arch"\nblock a = relu\nnetwork x : 3 = a\nnetwork y : 3 = a')
    kinds = [type(i).__name__ for i in module.items]
    assert kinds == ["Use", "Block", "Network", "Network"]
    assert module.items[0].path == "blocks.arch"


@pytest.mark.parametrize(
    "text,where,message,hint",
    [
        ("network n : 3x32x32 = conv3x3(8) relu\n", (1, 34), "unexpected 'relu'", "joined with '->'"),
        ("network n : 3x32x32 = conv3x3(8) ->\n", (1, 36), "unexpected end of file", "expected"),
        ("network n = conv3x3(8)\n", (1, 11), "unexpected '='", "input shape"),
        ("network n : 3x32x32 = conv3x3(8) → relu\n", (1, 34), "unexpected character '→'", "ASCII"),
        ("network block : 3 = relu\n", (1, 9), "'block' is a keyword", "another name"),
        ("network n : 3x32x32 = conv(k=3, 8)\n", (1, 33), "positional argument after a keyword", "first"),
        ("use 'x.arch'\n", (1, 5), "unexpected character", "double quotes"),
        ("network n : 3x8x8 = conv3x3(8)(4)\n", (1, 31), "unexpected '('", "one pair of parentheses"),
    ],
)
def test_syntax_errors(text, where, message, hint):
    err = error_of(text)
    assert isinstance(err, (ArchSyntaxError, DefinitionError))
    assert (err.span.line, err.span.col) == where
    assert message in err.message
    assert hint in (err.hint or "")


def test_syntax_error_rendering_is_compiler_style():
    err = error_of("network n : 3x32x32 =\n    conv3x3(8) relu\n", "net.arch")
    assert err.render() == (
        "net.arch:2:16: error: unexpected 'relu'\n"
        "        conv3x3(8) relu\n"
        "                   ^^^^\n"
        "  hint: layers in a chain are joined with '->'"
    )


@pytest.mark.parametrize("text,where", [
    ("network n : 4 = fc(" + "9" * 5000 + ")", (1, 20)),  # beyond Python's int-conversion limit
    ("network n : " + "7" * 5000 + " = relu", (1, 13)),
    ("network n : 3x" + "0" * 10 + "1" * 40 + " = relu", (1, 13)),
])
def test_long_integers_are_located_limit_errors(text, where):
    err = error_of(text)
    assert isinstance(err, LimitError) and (err.span.line, err.span.col) == where
    assert "too large" in err.message


def test_leading_zeros_do_not_count_as_digits():
    (net,) = parse_module("network n : 4 = fc(" + "0" * 100 + "7)").items
    assert net.body.args[0].value == 7


@pytest.mark.parametrize("count", [257, 400, 600, 3000])
def test_operator_cap_holds_for_every_operator(count):
    for op in ("**", "+", "*"):
        err = error_of("network n : 4 = fc(" + f"1{op}" * count + "1)")
        assert isinstance(err, LimitError), err.render()
    err = error_of("network n : 4 = fc(" + "-" * 300 + "1)")
    assert isinstance(err, LimitError)
    parse_module("network n : 4 = fc(" + "1**" * 256 + "1)")  # the cap itself is allowed


@pytest.mark.parametrize("separator", ["\f", "\r", "\u2028", "\x85", "\v", "\x1b[31m"])
def test_snippets_show_the_line_the_lexer_counts(separator):
    text = f"# a comment with {separator} inside it\nnetwork n : 3x8x8 =\n    conv3x3(8) -> rleu\n"
    err = error_of(text, "f.arch")
    assert (err.span.line, err.span.col) == (3, 19)
    rendered = err.render()
    assert "        conv3x3(8) -> rleu\n                      ^^^^" in rendered
    assert "\x1b" not in rendered
    # a control character on the error's own line is shown as '?', keeping the caret aligned
    err = error_of(f"network n : 3x8x8 = relu # {separator}\n  -> rleu", "f.arch")
    assert err.render().splitlines()[1:3] == ["      -> rleu", "         ^^^^"]
    err = error_of(f"network n : 3x8x8 = rleu # {separator}", "f.arch")
    line, caret = err.render().splitlines()[1:3]
    assert "\x1b" not in line and caret.index("^") == line.index("rleu")


@pytest.mark.parametrize("value,words", [(b"network n : 4 = relu", "decode bytes first"), (None, "not NoneType"),
                                         (3, "not int")])
def test_parse_takes_text(value, words):
    import archlang

    with pytest.raises(TypeError, match=words):
        archlang.parse(value)


def test_shipped_parser_tables_match_the_grammar():
    """parser_tables.json is generated from grammars/arch.lark (`make parser`); a grammar edit
    without regenerating fails here. Nothing is cached or unpickled at run time."""
    from pathlib import Path

    from archlang.parser import grammar_digest, shipped_tables, tables_source
    from archlang.resources import grammar_path

    from lark import Lark

    from archlang.parser import _compile_grammar, _lark
    from archlang.resources import specs_dir

    grammar = grammar_path().read_text(encoding="utf-8")
    assert shipped_tables()["grammar_sha256"] == grammar_digest(grammar), "run `make parser`"
    fresh = _compile_grammar(grammar)  # lark orders its tables by string hashes: compare by use
    for spec in sorted(specs_dir().glob("*.arch")):
        text = spec.read_text()
        assert _lark().parse(text) == fresh.parse(text)
    assert isinstance(_lark(), Lark) and '"data": {' in tables_source(grammar)
    source = Path(__import__("archlang.parser").parser.__file__).read_text()
    assert not re.search(r"\bcache\s*=|import pickle|pickle\.load", source)
