"""Stage 1's engine: text -> the builder's tree, by the LALR(1) tables lark computes for
grammars/arch.lark, run without lark.

`_parse_tables.py` holds lark's tables as literals (`make parser` writes it:
parser_build.tables_source). This module lexes and parses in one loop and, as each rule is
reduced, calls the builder's method for that node with the children and the position that
lark's tree would give it: no Tree, no Token objects, no Transformer pass afterwards. What it
does as lark 1.3.1 does (LALR, contextual lexer, propagate_positions, no placeholders):
- lexing: in each parser state, one pattern of the terminals that state accepts, its
  alternatives in lark's order (the first that matches wins), after what the grammar ignores
  (which no token can start like: parser_build checks it); a NAME that spells a keyword the
  state accepts becomes that keyword; lines and columns as lark's LineCounter counts them
  (1-based, a tab one column, the end column exclusive);
- tree shapes (parse_tree_builder): anonymous string tokens filtered out, a `_rule`'s children
  spliced into its parent's, a `?rule` left with one child replaced by that child;
- positions (PropagatePositions): a node runs from its first child to its last *before*
  filtering (a filtered '(' counts); a rule with no children has none (None);
- errors: lark's own exception classes (from _parser_standalone, imported when one is raised)
  with what lark fills in: UnexpectedCharacters with the terminals the state allowed, and
  UnexpectedToken with the token and the state's expected terminals (also for a character
  that only another state would have lexed).

A token is a tuple (line, column, end_line, end_column, type, text, offset); a node's position
(line, column, end_line, end_column). Syntax errors come first, as when the tree was built after
the parse: the first error a builder raises (or the nesting limit) is kept, building stops, and
it is raised once the whole text has parsed.
"""

from __future__ import annotations

import re
import sys

from . import _parse_tables as T

__all__ = ["parse"]

# how a reduction shapes its node (see _shape): only the state changes; a node of one token;
# a node; a `_rule`'s list; that list grown by its left-recursive rule; a `?rule` of several
_UNIT, _LEAF, _NODE, _SPLICE, _APPEND, _MAYBE = range(6)
# what is ignored, taken whole (possessive; before 3.11 an atomic lookahead and a backreference):
# where no token follows, the match fails rather than find one inside a comment
_SKIP = f"{T.SKIP}*+" if sys.version_info >= (3, 11) else f"(?=({T.SKIP}*))\\1"


class _Machine:
    """The tables, ready to run: lexers compiled per state as first needed, the rules' shapes
    derived once per process, and the chains of unit rules met so far."""

    def __init__(self) -> None:
        self.lexers: dict[int, tuple] = {}  # lexer -> (match, group index -> terminal)
        self.state_lexer: list = [None] * len(T.ACTIONS)
        self.state_retype = [T.LEXERS[i][2] or None for i in T.STATE_LEXER]
        self.shapes: dict[frozenset, tuple] = {}  # opening terminals -> (the rules' shapes, unit chains met)

    def lexer(self, index: int) -> tuple:
        """(match, kinds) of a lexer: its pattern (what is ignored, then its terminals or the end
        of the text) compiled, and the terminal of each of its groups."""
        lexer = self.lexers.get(index)
        if lexer is None:
            terminals = T.LEXERS[index][0]
            compiled = re.compile(f"{_SKIP}(?:{terminals + '|' if terminals else ''}(?P<end>\\Z))")
            kinds: list = [None] * (compiled.groups + 1)
            for name, group in compiled.groupindex.items():
                kinds[group] = "$END" if name == "end" else name
            lexer = self.lexers[index] = (compiled.match, kinds)
        return lexer

    def state(self, state: int) -> tuple:
        lexer = self.state_lexer[state] = self.lexer(T.STATE_LEXER[state])
        return lexer

    def rules(self, opening: frozenset) -> tuple:
        """(per rule: (mode, size, origin, builder name, kept children, tokens opening nesting),
        {(state below, state, lookahead): the state after the unit rules it reduces by})."""
        rules = self.shapes.get(opening)
        if rules is None:
            rules = self.shapes[opening] = (tuple(_shape(rule, opening) for rule in T.RULES), {})
        return rules


def _chain(shapes: tuple, below: int, state: int, kind: str) -> int:
    """The state reached from `state` (over `below`) through every unit rule that the lookahead
    `kind` reduces by: each replaces the top state with a goto from `below`."""
    while True:
        act = T.ACTIONS[state].get(kind)
        if act is None or act >= 0 or shapes[~act][0] != _UNIT:
            return state
        state = T.ACTIONS[below][shapes[~act][2]]


def _shape(rule: tuple, opening: frozenset) -> tuple:
    """How lark's tree builder (ChildFilter, ExpandSingleChild) shapes a rule's node. Kept
    children: None when every child is kept as it is; else (index, spliced) pairs, or for
    _APPEND the offsets from the top of the stack of those appended."""
    origin, alias, expand1, symbols = rule
    size = len(symbols)
    kept = tuple((i, fate == 3) for i, (_, fate) in enumerate(symbols) if fate)
    opened = sum(1 for name, fate in symbols if fate <= 1 and name in opening)
    whole = None if len(kept) == size and not any(splice for _, splice in kept) else kept
    if origin.startswith("_"):
        if expand1:
            raise ValueError(f"lalr.py does not run a ?_rule ({origin})")
        if symbols[0] == (origin, 3) and not any(splice for _, splice in kept[1:]):
            return _APPEND, size, origin, None, tuple(i - size for i, _ in kept[1:]), opened
        return _SPLICE, size, origin, None, whole, opened
    if not expand1 or alias:
        if size == 1 and symbols[0][1] <= 1:
            return _LEAF, 1, origin, alias or origin, bool(kept), opened
        return _NODE, size, origin, alias or origin, whole, opened
    if size == 1 and symbols[0][1] in (1, 2) and not opened:
        return _UNIT, 1, origin, None, None, 0
    if len(kept) < 2:  # lark would inline its one child, with the extent of the filtered tokens
        raise ValueError(f"lalr.py does not run a ?rule that filters out all but one symbol ({origin})")
    return _MAYBE, size, origin, origin, whole, opened


_machine: _Machine | None = None


def parse(text: str, builder, opening: frozenset = frozenset(), max_open: int = 0, too_deep=None,
          max_tokens: int | None = None, too_many=None):
    """The builder's node for the whole text (its `start` method's result). `builder` has a
    method per rule name or alias, called as `method(position, children)`. With `opening`, a
    shifted token of those terminals opens a nesting level until the rule holding it is
    reduced; more than `max_open` levels open at once fail as `too_deep()` does. Raises lark's
    UnexpectedCharacters or UnexpectedToken for text the grammar rejects. With `max_tokens`, the
    token past that many raises `too_many(token)` at once (a bound on the time a text takes)."""
    global _machine
    machine = _machine = _machine or _Machine()
    actions = T.ACTIONS
    rules, chains = machine.rules(opening)
    state_lexer, state_retype = machine.state_lexer, machine.state_retype
    calls = [name and getattr(builder, name) for _, _, _, name, _, _ in rules]
    newline, end_state = frozenset(T.NEWLINE), T.END
    states, values, places = [T.START], [], []
    state, pos, line, line_start, length = T.START, 0, 1, 0, len(text)
    next_newline = text.find("\n") % (length + 1)  # none: the length, which no token ends past
    depth, failed, last = 0, None, None
    tokens_left = length + 1 if max_tokens is None else max_tokens  # (a text has fewer tokens than characters)
    while True:
        match, kinds = state_lexer[state] or machine.state(state)
        m = match(text, pos)
        if m is None:
            raise _unexpected_character(machine, text, pos, line, line_start, state)
        group = m.lastindex
        kind = kinds[group]
        start, end = m.span(group)
        if next_newline < end:  # lines counted as lark's LineCounter counts them
            if next_newline < start:
                line += text.count("\n", next_newline, start)
                line_start = text.rindex("\n", next_newline, start) + 1
            first_line, column = line, start - line_start + 1
            if kind in newline and text.count("\n", start, end):
                line += text.count("\n", start, end)
                line_start = text.rindex("\n", start, end) + 1
            next_newline = text.find("\n", end) % (length + 1)
        else:
            first_line, column = line, start - line_start + 1
        value = text[start:end]
        retype = state_retype[state]
        if retype is not None and kind in retype:
            kind = retype[kind].get(value, kind)
        tok = (first_line, column, line, end - line_start + 1, kind, value, start)
        pos = end
        tokens_left -= 1
        if tokens_left < 0 and kind != "$END":
            raise too_many(tok)
        while True:  # reduce as the lookahead asks, then shift it
            act = actions[state].get(kind)
            if act is None:
                raise _unexpected_token(tok, last, actions[state], state)
            if act >= 0:
                if kind in opening:
                    depth += 1
                    if depth > max_open and failed is None:
                        failed = too_deep()
                states.append(act)
                values.append(tok)
                places.append(tok)
                state = act
                last = tok
                break
            mode, size, origin, name, kept, opened = rules[~act]
            if mode == _UNIT:
                key = (states[-2], state, kind)
                after = chains.get(key)
                if after is None:
                    after = chains[key] = _chain(rules, *key)
                states[-1] = state = after
                continue
            if mode == _LEAF:  # one token, in the place of the node
                leaf = values[-1]
                place = leaf[:4]
                if failed is None:
                    try:
                        node = calls[~act](place, [leaf] if kept else [])
                    except Exception as err:  # kept until the parse ends: a syntax error after it wins
                        failed, node = err, None
                else:
                    node = None
                depth -= opened
                below = states[-2]
                key = (below, actions[below][origin], kind)
                after = chains.get(key)  # and on through unit rules, as the lookahead mostly asks
                if after is None:
                    after = chains[key] = _chain(rules, *key)
                states[-1] = state = after
                values[-1] = node
                places[-1] = place
                continue
            if size:
                first, final = places[-size], places[-1]
                if first is None or final is None:
                    first, final = _ends(places[-size:])
                place = None if first is None else (first[0], first[1], final[2], final[3])
                if mode == _APPEND:  # lark extends the list of the rule's first child
                    node = values[-size]
                    for i in kept:
                        node.append(values[i])
                else:
                    children = values[-size:] if kept is None else _children(values[-size:], kept)
                del states[-size:], values[-size:], places[-size:]
            else:
                place, children = None, []
            if mode == _APPEND:
                pass
            elif mode == _SPLICE:
                node = children
            elif mode == _MAYBE and len(children) == 1:
                raise NotImplementedError(f"{origin}: a ?rule left with one child by a _rule")
            elif failed is None:
                try:
                    node = calls[~act](place, children)
                except Exception as err:  # kept until the parse ends: a syntax error after it wins
                    failed, node = err, None
            else:
                node = None
            depth -= opened
            state = actions[states[-1]][origin]
            states.append(state)
            values.append(node)
            places.append(place)
            if state == end_state:
                if failed is not None:
                    raise failed
                return node


def _ends(places: list) -> tuple:
    """The first and the last position among children, skipping those without (empty rules)."""
    present = [p for p in places if p is not None]
    return (present[0], present[-1]) if present else (None, None)


def _children(values: list, kept: tuple) -> list:
    """The children lark's tree keeps (ChildFilterLALR_NoPlaceholders): filtered tokens left
    out, a `_rule`'s list spliced in (the first one reused, as lark reuses it)."""
    out = None
    for i, splice in kept:
        value = values[i]
        if splice:
            if out:
                out += value
            else:
                out = value
        elif out is None:
            out = [value]
        else:
            out.append(value)
    return [] if out is None else out


def _lark_token(tok: tuple):
    from ._parser_standalone import Token

    line, column, end_line, end_column, kind, value, start = tok
    return Token(kind, value, start, line, column, end_line, end_column, start + len(value))


def _unexpected_token(tok: tuple, last: tuple | None, actions: dict, state: int):
    """What lark raises when a state has no action for a token (lalr_parser_state.feed_token);
    at the end of the text, its token borrows the last one's place."""
    from ._parser_standalone import Token, UnexpectedToken

    if tok[4] != "$END":
        token = _lark_token(tok)
    elif last is not None:
        token = Token.new_borrow_pos("$END", "", _lark_token(last))
    else:
        token = Token("$END", "", 0, 1, 1)
    expected = {name for name in actions if name.isupper()}
    return UnexpectedToken(token, expected, state=state, token_history=last and [_lark_token(last)])


def _unexpected_character(machine: _Machine, text: str, pos: int, line: int, line_start: int, state: int):
    """What lark's contextual lexer raises where no terminal of the state matches (past what
    is ignored): an UnexpectedToken if a terminal of another state matches there, else
    UnexpectedCharacters, with the terminals the state allowed."""
    from ._parser_standalone import UnexpectedCharacters, UnexpectedToken

    at = re.compile(f"{T.SKIP}*").match(text, pos).end()
    if text.count("\n", pos, at):
        line += text.count("\n", pos, at)
        line_start = text.rindex("\n", pos, at) + 1
    allowed = set(T.LEXERS[T.STATE_LEXER[state]][1]) or {"<END-OF-FILE>"}
    match, kinds = machine.lexer(T.ROOT_LEXER)
    m = match(text, at)
    if m is None:
        return UnexpectedCharacters(text, at, line, at - line_start + 1, allowed=allowed, state=state)
    kind, value = kinds[m.lastindex], m.group(m.lastindex)
    end_line, end_column = line, at - line_start + 1 + len(value)
    if kind in T.NEWLINE and "\n" in value:
        end_line, end_column = line + value.count("\n"), len(value) - value.rindex("\n")
    kind = T.LEXERS[T.ROOT_LEXER][2].get(kind, {}).get(value, kind)
    token = _lark_token((line, at - line_start + 1, end_line, end_column, kind, value, at))
    return UnexpectedToken(token, allowed, state=state)
