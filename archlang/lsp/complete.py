"""Completion: what may be written at a position, read from the text as it is now (a half-typed
line does not parse) and the document's last analysis (the blocks it and its used files define).

- inside `use "...`: the bundled specs;
- inside a call's parentheses: the call's keyword arguments (`k=`, `stride=` for an op from
  its registry entry, a block's parameters with their defaults), then values;
- elsewhere in a body: every op of the registry (signature and documentation), the blocks, the
  enclosing block's parameters and `in_c`, the named values (`as x`) of the definition;
- at the start of a line: `network`, `block`, `use`.
"""

from __future__ import annotations

import re

from ..lower.evaluate import FUNCTIONS, SPECIAL_FORMS
from .analysis import Snapshot, split
from .features import block_markdown, op_markdown, op_signature, signature

__all__ = ["complete"]

_BLOCK_HEAD = re.compile(r"^[ \t]*block[ \t]+(\w+)[ \t]*(?:\(([^)]*)\))?", re.M)
_NAMED = re.compile(r"\bas[ \t]+([A-Za-z_]\w*)")
_WORD = re.compile(r"[A-Za-z_]\w*$")
_KWARG = re.compile(r"(?:^|,)\s*([A-Za-z_]\w*)\s*=(?!=)")

_LAYER_KEYWORDS = ("if", "then", "else", "for", "in", "as")
_VALUE_KEYWORDS = ("true", "false", "and", "or", "not", "if", "then", "else")


def _item(label: str, kind: str, detail: str = "", doc: str = "", insert: str | None = None, sort: str = "5") -> dict:
    return {"label": label, "kind": kind, "detail": detail, "documentation": doc,
            "insert_text": insert if insert is not None else label, "sort_text": f"{sort}{label}"}


def _ops() -> list[dict]:
    from ..ops.base import canonical_ops

    out = []
    for cls in canonical_ops():
        doc = op_markdown(cls)
        out.append(_item(cls.name, "function", op_signature(cls), doc, sort="3"))
        for alias in cls.aliases:
            out.append(_item(alias, "function", f"{op_signature(cls)} (also written {alias})", doc, sort="4"))
        if cls.kernel_suffix:
            for k in (("1x1", "3x3") if cls.name in ("conv", "dwconv") else ("2x2", "3x3")):
                out.append(_item(cls.name + k, "function", f"{cls.name} with a {k} kernel", doc, sort="4"))
    out.append(_item("residual", "function", "residual(f, shortcut=...)",
                     "f's output added to its input; a projection (conv1x1 -> bn) where f changes the shape", sort="3"))
    return out


def _call_at(segment: str) -> tuple[str | None, str]:
    """(the name of the call whose parentheses hold the end of `segment`, the text of its
    arguments so far), skipping comments and strings; (None, "") outside any call."""
    stack: list[tuple[str, int]] = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "#":
            nl = segment.find("\n", i)
            if nl < 0:
                break
            i = nl
        elif ch == '"':
            close = segment.find('"', i + 1)
            i = n if close < 0 else close
        elif ch == "(":
            word = _WORD.search(segment, 0, i)
            stack.append((word.group() if word and word.end() == len(segment[:i].rstrip()) else "", i + 1))
        elif ch == ")" and stack:
            stack.pop()
        i += 1
    if not stack:
        return None, ""
    name, start = stack[-1]
    return name, segment[start:]


def complete(snap: Snapshot | None, text: str, offset: int) -> list[dict]:
    """Completion items at character `offset` of the current `text` (BOM removed)."""
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset]
    if re.match(r'^[ \t]*use[ \t]+"[^"]*$', before):
        from ..program import bundled_specs

        return [_item(name, "file", f"bundled spec: {path.name}") for name, path in bundled_specs().items()]
    if "#" in before:
        return []
    word = _WORD.search(before)
    typed = word.group() if word else ""
    out: list[dict] = []
    if before[: len(before) - len(typed)].strip() == "" and not before.startswith((" ", "\t")):
        out += [_item(k, "keyword", sort="1") for k in ("network", "block", "use")]  # a new definition
    pieces = split(text[:offset])
    segment = pieces[-1][1] if pieces else ""
    call, args = _call_at(segment)
    defs = snap.defs if snap is not None else None
    if call is not None:
        out += _keywords_of(call, args, snap)
        out += [_item(k, "keyword", sort="8") for k in _VALUE_KEYWORDS]
        out += [_item(f, "function", FUNCTIONS[f][2], sort="7") for f in FUNCTIONS]
    else:
        out += [_item(k, "keyword", sort="8") for k in _LAYER_KEYWORDS]
    out += _ops()
    if defs is not None:
        for name, block in defs.blocks.items():
            out.append(_item(name, "class", signature(block), block_markdown(snap, block), sort="2"))
    head = _BLOCK_HEAD.match(segment)
    if head:
        for p in (head.group(2) or "").split(","):
            name = p.split("=")[0].strip()
            if name.isidentifier():
                out.append(_item(name, "variable", f"parameter of block {head.group(1)}", sort="1"))
        out.append(_item("in_c", "variable", "the block's input channels", sort="2"))
    for name in dict.fromkeys(_NAMED.findall(segment)):
        out.append(_item(name, "variable", "named value", sort="1"))
    return out


def _keywords_of(call: str, args: str, snap: Snapshot | None) -> list[dict]:
    """`name=` items for the keyword arguments of `call` not given yet."""
    depth, flat = 0, []
    for ch in args:  # the arguments at this call's own level
        depth += ch in "("
        if depth == 0:
            flat.append(ch)
        depth -= ch == ")" and depth > 0
    flat_text = "".join(flat)
    given = set(_KWARG.findall(flat_text))
    done = flat_text.split(",")[:-1]  # the arguments before the one being typed
    positional = sum(1 for a in done if a.strip() and not re.match(r"\s*[A-Za-z_]\w*\s*=(?!=)", a))
    out = []
    block = snap.defs.blocks.get(call) if snap is not None else None
    if block is not None:
        for p in block.params[positional:]:
            if p.name not in given:
                default = f" (default {p.default.span.text})" if p.default is not None else " (required)"
                out.append(_item(f"{p.name}=", "property", f"parameter of {signature(block)}{default}",
                                 insert=f"{p.name}=", sort="0"))
        return out
    if call in SPECIAL_FORMS:
        return [_item("shortcut=", "property", "the shortcut branch (default: identity, or a projection)",
                      sort="0")] if "shortcut" not in given else []
    from ..ops import REGISTRY, split_suffix

    cls = REGISTRY.get(call) or (split_suffix(call) or (None,))[0]
    if cls is None:
        return []
    for a in cls.args[positional:]:
        if a.name not in given:
            out.append(_item(f"{a.name}=", "property", f"{a.kind}, in {op_signature(cls)}", a.doc,
                             insert=f"{a.name}=", sort="0"))
    return out
