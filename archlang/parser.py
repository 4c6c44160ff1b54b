"""Stage 1: text -> surface tree (`syntax.Module`), and the tokens of a text (`lex`).

The grammar (grammars/arch.lark) is compiled to LALR(1) tables when archlang is built, not
when it runs (`make parser`, parser_build.py), into two generated modules whose headers name
the grammar's SHA-256, which a test checks:
- `_parse_tables.py`: lark's tables and contextual lexer as literals, which lalr.py runs,
  building the syntax records (syntax_builder.py) as it reduces: `parse_module`;
- `_parser_standalone.py`: lark's standalone parser with the same tables, which `lex` (the
  formatter's and the language server's tokens) still runs, and whose exception classes both
  raise for a text the grammar rejects, translated here into ArchSyntaxError.
So parsing never imports lark (about 30 ms on a small machine), and nothing is read, cached or
unpickled at run time; lalr.py parses the 10,000-layer chain about eight times as fast as lark's
parser with positions and its Transformer did.
"""

from __future__ import annotations

import gc
import re
from functools import lru_cache
from itertools import accumulate

from . import lalr
from . import syntax as S
from .errors import ArchError, ArchSyntaxError, LimitError, Source, Span
from .records import record
from .syntax_builder import MAX_OPERATORS, Builder

__all__ = ["parse_module", "lex", "Lexeme", "KEYWORDS", "MAX_NESTING", "MAX_OPERATORS", "MAX_DEPTH", "MAX_TOKENS"]

MAX_NESTING = 64  # parentheses inside one another
# Constructs open at once: '(' and the operators that nest to the right (unary '-', 'not',
# '**'), 'if' and 'for'. Near where lark's recursive tree transform, which parse_module ran
# before lalr.py, ran out of Python's stack (about 485 levels from a shallow one).
MAX_DEPTH = 480
# Tokens in one file (Limits.max_tokens' default): the time of any text is bounded by it, about
# 8 us a token at most, parsed and analysed (1 MiB of `1+1+1...` holds a million; real specs
# take 4 to 7 bytes a token). Two a layer at the layer limit (`relu ->`): a network at that
# limit of the simplest layers can still be written out.
MAX_TOKENS = 210_000
_OPENING = frozenset({"LPAR", "MINUS", "NOT", "POW", "IF", "FOR"})

KEYWORDS = ("network", "block", "use", "true", "false", "as", "if", "then", "else", "and", "or", "not", "for", "in",
            "where")

_TERMINALS = {  # what an error says the parser expected
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "SHAPE": "a shape such as 3x224x224",
    "QUANTITY": "a count such as 5M", "HOLE": "a hole (? or ?name)",
    "STRING": 'a quoted file name such as "blocks.arch"',
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "VBAR": "'|'", "ARROW": "'->'",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "FLOORDIV": "'//'", "SLASH": "'/'", "PERCENT": "'%'", "POW": "'**'",
    "COMPARE": "a comparison (== != < <= > >=)", "$END": "the end of the file",
}
for _kw in KEYWORDS:
    _TERMINALS[_kw.upper()] = f"'{_kw}'"


_OPERATORS = {"'|'", "'+'", "'-'", "'*'", "'//'", "'/'", "'%'", "'**'"}


def _describe(terminal: str) -> str:
    return _TERMINALS.get(terminal, terminal.lower())


@lru_cache(maxsize=2)
def _lark(positions: bool = True):
    """lark's standalone parser (`lex`, and the equivalence tests); without `positions` its
    trees carry no spans, which `lex` does not need (it reads faster)."""
    from ._parser_standalone import Lark_StandAlone

    return Lark_StandAlone() if positions else Lark_StandAlone(propagate_positions=False)


_PAREN = re.compile(r"[()]")
_PAREN_STEP = {"(": 1, ")": -1}

# what `_parens` skips (a comment; a string, closed on its line) and what it counts
_PAREN_SCAN = re.compile(r'#[^\n]*|"[^"\n]*"|[()]')


def _parens(text: str):
    """(index, depth after it) at every '(' and ')' outside comments and strings."""
    depth = 0
    for m in _PAREN_SCAN.finditer(text):
        ch = m.group()
        if ch == "(":
            depth += 1
            yield m.start(), depth
        elif ch == ")":
            depth = max(0, depth - 1)
            yield m.start(), depth


def _check_nesting(source: Source) -> None:
    """Refuse parentheses nested deeper than MAX_NESTING, before parsing: this error comes
    first, wherever it is (the depths `_parens` gives, counted here without its generator)."""
    text = source.text
    if text.count("(") <= MAX_NESTING:
        return
    if "#" not in text and '"' not in text:  # no comment or string to skip: the depths summed in C
        depths = list(accumulate(map(_PAREN_STEP.__getitem__, _PAREN.findall(text))))
        if min(depths) >= 0 and max(depths) <= MAX_NESTING:
            return
    depth = 0
    for m in _PAREN_SCAN.finditer(text):
        if m[0] == "(":
            depth += 1
            if depth > MAX_NESTING:
                i = m.start()
                line = text.count("\n", 0, i) + 1
                col = i - (text.rfind("\n", 0, i) + 1) + 1
                raise LimitError(
                    f"parentheses nested more than {MAX_NESTING} deep",
                    Span(source, line, col, line, col + 1),
                    hint="flatten the nesting: a chain needs no parentheses around each step",
                )
        elif m[0] == ")" and depth:
            depth -= 1


def _paren_depth(text: str, end: int) -> int:
    """How many '(' are open at `end`."""
    depth = 0
    for i, d in _parens(text):
        if i >= end:
            break
        depth = d
    return depth


def _end_span(source: Source) -> Span:
    """Just after the last character that is not white space."""
    stripped = source.text.rstrip()
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Span(source, line, col, line, col + 1)


def _syntax_error(source: Source, err) -> ArchError:
    """The ArchSyntaxError for one of lark's exceptions (UnexpectedInput), from lark's
    standalone parser (`lex`) or lalr.py (`parse_module`), which raise the same."""
    from ._parser_standalone import UnexpectedCharacters, UnexpectedEOF

    terminals = getattr(err, "expected", None) or getattr(err, "allowed", None) or ()
    described = {_describe(t) for t in terminals}
    expected = sorted(described - _OPERATORS or described)  # operators may follow almost anything
    value_words = {"a name", "an integer", "a number", "'true'", "'false'", "'('", "'-'", "'not'", "'if'", "'for'",
                   "a hole (? or ?name)"}
    if "a name" in expected and "'('" in expected:
        expected = ["a layer or a value"] + [e for e in expected if e not in value_words]
    expect_text = ("expected " + ", ".join(expected)) if expected else None
    hint = None
    if isinstance(err, UnexpectedCharacters):
        line = source.line(err.line)
        ch = line[err.column - 1] if 0 < err.column <= len(line) else "?"
        span = Span(source, err.line, err.column, err.line, err.column + 1)
        message = f"unexpected character {ch!r}"
        if not ch.isascii():
            hint = "names use ASCII letters, digits and '_'; other characters may appear only in # comments"
        elif ch == "'":
            hint = 'file names are written in double quotes: use "file.arch"'
        else:
            hint = expect_text
        return ArchSyntaxError(message, span, hint=hint)
    token = getattr(err, "token", None)
    if isinstance(err, UnexpectedEOF) or (token is not None and token.type == "$END"):
        return ArchSyntaxError(
            "unexpected end of file", _end_span(source), hint=(expect_text + " before the end") if expect_text else None
        )
    assert token is not None
    span = Span(source, token.line, token.column, token.end_line, token.end_column)
    shown = str(token)
    message = f"unexpected {shown!r}"
    expected_set = set(getattr(err, "expected", ()) or ())
    inside_call = _paren_depth(source.text, token.start_pos) > 0
    before = source.text[: token.start_pos].rstrip()
    previous = before.rsplit(None, 1)[-1] if before.split() else ""
    if previous in ("for", "if") and before[: -len(previous)].rstrip().endswith("->"):
        hint = f"'{previous}' binds loosest: inside a chain, put it in parentheses: -> ({previous} ...)"
    elif token.type == "LPAR" and before.endswith(")"):
        hint = "a layer takes all its arguments in one pair of parentheses: conv3x3(8, stride=2), not conv3x3(8)(...)"
    elif token.type in ("NAME", "INT", "FLOAT", "LPAR") and inside_call and "COMMA" in expected_set:
        hint = "arguments are separated by ','"
    elif token.type in ("NAME", "INT", "LPAR") and "ARROW" in expected_set:
        hint = "layers in a chain are joined with '->'"
    elif token.type == "SHAPE" or (token.type == "NAME" and str(token)[:1] == "x" and "RPAR" in expected_set):
        hint = "a kernel size goes in the layer name (conv3x3) or as a tuple: k=(3, 3)"
    elif token.type == "EQUAL" and "COLON" in expected_set:
        hint = "a network needs its input shape: network NAME : 3x224x224 = ..."
    elif token.type in ("NETWORK", "BLOCK", "USE") and expected_set:
        hint = "the previous definition is incomplete: " + (expect_text or "")
    elif token.type.upper() in {k.upper() for k in KEYWORDS} and "NAME" in expected_set:
        hint = f"'{token}' is a keyword and cannot be used as a name"
    else:
        hint = expect_text
    return ArchSyntaxError(message, span, hint=hint)


def parse_module(text: str, name: str = "<string>", max_tokens: int = MAX_TOKENS) -> S.Module:
    """Parse one .arch text into its surface tree; raises ArchSyntaxError (LimitError past
    `max_tokens` tokens)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return _parse(Source(name, text), max_tokens)


def _parse(source: Source, max_tokens: int = MAX_TOKENS) -> S.Module:
    """The syntax tree of a text (BOM already skipped); raises the parser's errors, then the
    first that a rule raises (numbers too large, a positional argument after a keyword one...),
    as lark's parser and a tree transform afterwards would."""
    _check_nesting(source)
    # the parse makes no reference cycles for the collector to find, and its passes over the
    # growing tree took a third of the time at 100,000 layers
    collecting = gc.isenabled()
    gc.disable()
    try:
        return lalr.parse(source.text, Builder(source), _OPENING, MAX_DEPTH, lambda: _too_deep(source),
                          max_tokens, lambda tok: _too_many(source, tok, max_tokens))
    except ArchError:
        raise
    except Exception as err:
        from ._parser_standalone import UnexpectedInput  # loaded: lalr.py raises its errors

        if isinstance(err, UnexpectedInput):
            raise _syntax_error(source, err) from None
        raise
    finally:
        if collecting:
            gc.enable()


def _too_deep(source: Source) -> LimitError:
    return LimitError(
        "expressions are nested too deeply",
        _end_span(source),
        hint="flatten the nesting: write chains with '->' instead of nested parentheses",
    )


def _too_many(source: Source, tok: tuple, max_tokens: int) -> LimitError:
    return LimitError(
        f"the file has more than {max_tokens:,} tokens",
        Span(source, *tok[:4]),
        hint="write repeats (`* n`, `for`) instead of each layer, or split the file into files joined with `use`; "
             "the limit can be raised (Limits.max_tokens, --max-tokens)",
    )


def _parse_with_lark(text: str, name: str = "<string>") -> S.Module:
    """parse_module as it was before lalr.py: lark's standalone parser builds its tree, then
    the same builder is called on each node, children first (tests/test_lalr.py compares the
    two)."""
    from ._parser_standalone import UnexpectedInput as LarkError

    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(name, text)
    _check_nesting(source)
    try:
        tree = _lark().parse(text)
    except LarkError as err:
        raise _syntax_error(source, err) from None
    builder = Builder(source)

    def build(node):
        if not hasattr(node, "data"):  # a token
            return node.line, node.column, node.end_line, node.end_column, node.type, str(node), node.start_pos
        meta = node.meta
        place = None if meta.empty else (meta.line, meta.column, meta.end_line, meta.end_column)
        return getattr(builder, node.data)(place, [build(child) for child in node.children])

    try:
        return build(tree)
    except RecursionError:
        raise _too_deep(source) from None


@record
class Lexeme:
    """One token as the parser reads it (`kind` is the grammar's terminal: NAME, ARROW, LPAR,
    NETWORK...), or a comment (kind COMMENT, its text up to the end of the line), which the
    parser skips; `start` and `end` are offsets into the text."""

    kind: str
    text: str
    start: int
    end: int


_COMMENT = re.compile(r"#[^\n]*")


def lex(text: str, name: str = "<string>", *, check: bool = False) -> list[Lexeme]:
    """The tokens of a .arch text in order, its comments among them: the formatter's input.
    The tokens come from the parser itself as it reads them (its contextual lexer decides
    `?x3` is a hole, not a shape), so a text parses only if it lexes, and two texts with the
    same tokens have the same syntax tree. A leading BOM is skipped, as parse_module skips it;
    offsets count from after it. Raises the ArchSyntaxError parse_module would for a text
    the grammar rejects; with `check`, every error parse_module raises (the same parse
    builds the syntax tree too). The tokens still come from lark's standalone parser."""
    from ._parser_standalone import UnexpectedInput

    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(name, text)
    _check_nesting(source)
    interactive = _lark(False).parse_interactive(text)
    tokens: list[Lexeme] = []
    try:
        for tok in interactive.iter_parse():
            tokens.append(Lexeme(tok.type, str(tok), tok.start_pos, tok.end_pos))
        interactive.feed_eof()
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None
    except RecursionError:
        raise LimitError("the spec is nested too deeply to parse", _end_span(source)) from None
    if check:
        _parse(source)  # the tree parse_module builds, and its errors
    out: list[Lexeme] = []
    end = 0
    for tok in tokens + [Lexeme("$END", "", len(text), len(text))]:
        # between tokens there is only what the grammar ignores: white space, BOMs, comments
        out += [Lexeme("COMMENT", m.group(), m.start(), m.end()) for m in _COMMENT.finditer(text, end, tok.start)]
        out.append(tok)
        end = tok.end
    return out[:-1]
