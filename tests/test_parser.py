"""Stage 1: text -> surface tree. Constructs, positions, and syntax errors."""

import re
import subprocess
import sys
from pathlib import Path

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


def _plain(node):
    """A parse tree as tuples (rule, children, place; a token's type, text and offsets), to
    compare the shipped parser's trees with lark's own, which are other classes."""
    if not hasattr(node, "children"):
        return node.type, str(node), node.start_pos, node.end_pos
    meta = node.meta
    place = None if meta.empty else (meta.line, meta.column, meta.end_line, meta.end_column)
    return str(node.data), tuple(_plain(child) for child in node.children), place


def test_shipped_parser_matches_the_grammar():
    """_parser_standalone.py and _parse_tables.py are generated from grammars/arch.lark
    (`make parser`), the same bytes on every run; a grammar edit (or another lark) without
    regenerating fails here. Their tables are renumbered, so the standalone parser's trees are
    checked against lark's own on every bundled spec (and lalr.py's against those in
    tests/test_lalr.py)."""
    from archlang import parser
    from archlang.parser import _lark
    from archlang.parser_build import (STANDALONE_FILE, TABLES_FILE, _compile_grammar, grammar_digest,
                                       standalone_source, tables_source)
    from archlang.resources import grammar_path, specs_dir

    grammar = grammar_path().read_text(encoding="utf-8")
    shipped = STANDALONE_FILE.read_text(encoding="utf-8")
    assert f"# grammar sha256: {grammar_digest(grammar)}\n" in shipped, "the grammar changed: run `make parser`"
    assert shipped == standalone_source(grammar), "the shipped parser is not what lark generates: run `make parser`"
    tables = TABLES_FILE.read_text(encoding="utf-8")
    assert f"# grammar sha256: {grammar_digest(grammar)}\n" in tables, "the grammar changed: run `make parser`"
    assert tables == tables_source(grammar), "the shipped tables are not what lark computes: run `make parser`"
    fresh = _compile_grammar(grammar)
    for spec in sorted(specs_dir().glob("*.arch")):
        text = spec.read_text()
        assert _plain(_lark().parse(text)) == _plain(fresh.parse(text)), spec.name
    source = Path(parser.__file__).read_text()
    assert not re.search(r"\bcache\s*=|^\s*(import|from) pickle\b|pickle\.load", source, re.MULTILINE)


def test_parsing_never_imports_lark():
    """Parsing and lexing (with spans and without) run on the shipped standalone parser alone:
    importing lark costs about 30 ms, paid only by `make parser` and the test above."""
    code = ("import sys, archlang; from archlang.parser import lex; text = 'network n : 3 = relu # r'; "
            "archlang.parse(text).network('n'); lex(text); lex(text, check=True); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lark'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"
