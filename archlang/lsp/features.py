"""What an editor asks of a document, answered from its Snapshot in archlang's terms: hovers
(what a layer or block call becomes in every network that reaches it, a block's definition,
a hole's or an assertion's status), go to definition, references, symbols and inlay hints.
Positions are the document's 1-based lines and columns (code points); server.py converts.
Completion is in complete.py."""

from __future__ import annotations

from dataclasses import dataclass

from .. import syntax as S
from ..ir import Node
from ..lower.evaluate import FUNCTIONS, SPECIAL_FORMS
from ..ops import REGISTRY, split_suffix
from .analysis import NetResult, Place, Snapshot, walk

__all__ = ["Target", "target_at", "hover", "definition", "block_at", "references", "symbols", "inlay_hints",
           "signature", "op_signature", "op_markdown", "block_markdown"]

MAX_ROWS = 8  # instances listed in a hover before "... and N more"


@dataclass
class Target:
    """The syntax under a position: `kind` is call, name, hole, shape, kwarg, as, param,
    block, network, use, budget or input; `item` the definition holding it, `call` the call a
    keyword argument belongs to."""

    kind: str
    node: object
    item: object
    call: object = None


def _key(span) -> tuple:
    return (span.source, span.line, span.col, span.end_line, span.end_col)


def _inside(span, line: int, col: int) -> bool:
    return (span.line, span.col) <= (line, col) <= (span.end_line, span.end_col)


def _size(span) -> tuple:
    return span.end_line - span.line, span.end_col - span.col if span.end_line == span.line else 10**6


def target_at(snap: Snapshot, line: int, col: int) -> Target | None:
    """The innermost thing at document line `line`, column `col`."""
    chunk = snap.chunk_at(line)
    if chunk is None:
        return None
    rel = line - chunk.offset
    best: tuple | None = None

    def consider(kind, node, span, item, call=None):
        nonlocal best
        if span is not None and _inside(span, rel, col) and (best is None or _size(span) <= best[0]):
            best = (_size(span), Target(kind, node, item, call))

    for item in chunk.items:
        if not _inside(item.span, rel, col):
            continue
        if isinstance(item, S.Use):
            consider("use", item, item.span, item)
            continue
        consider("block" if isinstance(item, S.Block) else "network", item, item.name_span, item)
        for p in getattr(item, "params", ()):
            consider("param", p, p.span, item)
        for decl in getattr(item, "inputs", ()):
            if isinstance(decl, S.InputDecl):
                consider("shape", decl.shape, decl.shape.span, item)
        for shape in getattr(item, "outputs", None) or ():
            consider("shape", shape, shape.span, item)
        for budget in getattr(item, "budgets", ()):
            consider("budget", budget, budget.span, item)
        for node in walk(item):
            if isinstance(node, S.Call):
                consider("call", node, node.func_span, item)
                for kw in node.kwargs:
                    consider("kwarg", kw, kw.name_span, item, node)
            elif isinstance(node, S.Name):
                consider("name", node, node.span, item)
            elif isinstance(node, S.Hole):
                consider("hole", node, node.span, item)
            elif isinstance(node, S.Assert):
                consider("shape", node.shape, node.shape.span, item)
            elif isinstance(node, S.As):
                consider("as", node, node.name_span, item)
    return best[1] if best else None


# ---------------------------------------------------------------- indexes over analysed networks


def _index(result: NetResult) -> tuple[dict, dict]:
    """(span key -> the layers made there, span key -> {scope path: layers of that instance})."""
    got = result.cache.get("index")
    if got is None:
        ops: dict = {}
        scopes: dict = {}
        for info in result.network.layers:
            node = info.node
            ops.setdefault(_key(node.span), []).append(info)
            for depth, scope in enumerate(node.scopes):
                path = tuple(s.name for s in node.scopes[: depth + 1])
                scopes.setdefault(_key(scope.span), {}).setdefault(path, []).append(info)
        got = result.cache["index"] = (ops, scopes)
    return got


def _made_by(snap: Snapshot, span) -> list[tuple[str, str, list]]:
    """(network, layer or instance name, its layers) for everything made by the text at `span`."""
    key = _key(span)
    out = []
    for name, result in snap.nets.items():
        if result.network is None:
            continue
        ops, scopes = _index(result)
        for info in ops.get(key, ()):
            out.append((name, info.name, [info]))
        for path, infos in scopes.get(key, {}).items():
            out.append((name, ".".join(path), infos))
    return out


def _rf(info) -> str:
    rf = info.receptive_field
    if rf is None:
        return "global" if info.node.type.rank or info.node.type.tokens else "-"
    from ..ir import compact

    return f"{compact(rf.size)} (jump {compact(rf.jump)})"


def _table(rows: list[tuple[str, str, list]]) -> str:
    lines = ["| network | layer | output | params | MACs | RF |", "|---|---|---|---:|---:|---|"]
    for net, name, infos in rows[:MAX_ROWS]:
        last = infos[-1]
        params, macs = sum(i.params for i in infos), sum(i.macs for i in infos)
        lines.append(f"| {net} | `{name}` | {last.node.type} | {params:,} | {macs:,} | {_rf(last)} |")
    if len(rows) > MAX_ROWS:
        lines.append(f"\n... and {len(rows) - MAX_ROWS} more")
    return "\n".join(lines)


# ---------------------------------------------------------------- descriptions


def signature(block: S.Block) -> str:
    params = ", ".join(p.name + (f"={_written(p.default)}" if p.default is not None else "") for p in block.params)
    inputs = f" : ({', '.join(n for n, _ in block.inputs)})" if block.inputs else ""
    return f"{block.name}({params}){inputs}" if block.params else f"{block.name}{inputs}"


def _written(expr) -> str:
    span = expr.span
    return span.text if span.line == span.end_line else "..."


def op_signature(cls) -> str:
    from ..ops.args import REQUIRED

    def arg(a):
        if a.default is REQUIRED:
            return a.name
        if a.default is None:
            return f"{a.name}=?"  # resolved from the input
        value = {True: "true", False: "false"}.get(a.default, a.default) if isinstance(a.default, bool) else a.default
        return f"{a.name}={value}"

    return f"{cls.name}({', '.join(arg(a) for a in cls.args)})" if cls.args else cls.name


def op_markdown(cls) -> str:
    import sys

    doc = (sys.modules[cls.__module__].__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"```arch\n{op_signature(cls)}\n```", doc]
    if cls.aliases:
        lines.append("also written " + ", ".join(f"`{a}`" for a in cls.aliases))
    if cls.kernel_suffix:
        lines.append(f"the kernel may go in the name: `{cls.name}3x3`, `{cls.name}1x7`")
    args = [f"- `{a.name}` ({a.kind}){': ' + a.doc if a.doc else ''}" for a in cls.args]
    return "\n\n".join(x for x in lines if x) + ("\n\n" + "\n".join(args) if args else "")


def _comment_above(source, line: int) -> str:
    out = []
    n = line - 1
    while n >= 1 and source.line(n).lstrip().startswith("#"):
        out.append(source.line(n).lstrip()[1:].strip())
        n -= 1
    return " ".join(reversed(out))


def block_markdown(snap: Snapshot, block: S.Block) -> str:
    place = snap.place(block.name_span)
    where = "this file" if place is None or place.path is None else place.path
    line = place.line if place else block.name_span.line
    source = block.span.source
    body = [source.line(n) for n in range(block.span.line, min(block.span.end_line, block.span.line + 11) + 1)]
    lines = [f"```arch\n{chr(10).join(body).strip()}\n```", f"block `{signature(block)}`, defined in {where}, line {line}"]
    comment = _comment_above(source, block.span.line)
    if comment:
        lines.append(comment)
    return "\n\n".join(lines)


def _op(name: str):
    return REGISTRY.get(name) or (split_suffix(name) or (None,))[0]


def _enclosing_param(target: Target, name: str):
    if isinstance(target.item, S.Block):
        return next((p for p in target.item.params if p.name == name), None)
    return None


def _named_value(item, name: str):
    return next((n for n in walk(item) if isinstance(n, S.As) and n.name == name), None)


def hover(snap: Snapshot, line: int, col: int) -> tuple[str, Place] | None:
    """Markdown about what is at the position, and the range it covers."""
    target = target_at(snap, line, col)
    if target is None:
        return None
    text = _describe(snap, target)
    if not text:
        return None
    node = target.node
    span = node.func_span if isinstance(node, S.Call) else node.name_span if isinstance(
        node, (S.KwArg, S.As, S.Block, S.Network)) else node.span
    return text, snap.place(span)


def _describe(snap: Snapshot, target: Target) -> str | None:
    node, kind = target.node, target.kind
    if kind in ("call", "name"):
        name = node.func if kind == "call" else node.id
        return _describe_use(snap, target, name, node.span)
    if kind == "block":
        return block_markdown(snap, node) + _instances(snap, node.name)
    if kind == "network":
        return _network_markdown(snap, node.name)
    if kind == "param":
        return f"parameter `{node.name}` of block `{signature(target.item)}`" + (
            f", default `{_written(node.default)}`" if node.default is not None else " (required)")
    if kind == "kwarg":
        return _describe_kwarg(snap, target)
    if kind == "hole":
        return _hole_markdown(snap, node)
    if kind == "shape":
        return _shape_markdown(snap, node, target.item)
    if kind == "budget":
        return _budget_markdown(snap, node, target.item)
    if kind == "as":
        rows = _value_rows(snap, target.item, node.name)
        return f"named value `{node.name}`" + ("\n\n" + _table(rows) if rows else "")
    if kind == "use":
        files = [p for u, p in snap.uses if u is node and p is not None]
        if not files:
            return None
        blocks = sorted(n for n, b in snap.defs.blocks.items() if snap.place(b.name_span) and
                        snap.place(b.name_span).path == str(files[0]))
        return f"`{files[0]}`\n\nblocks: " + (", ".join(f"`{b}`" for b in blocks) or "none")
    return None


def _describe_use(snap: Snapshot, target: Target, name: str, span) -> str | None:
    param = _enclosing_param(target, name)
    rows = _made_by(snap, span)
    table = ("\n\n" + _table(rows)) if rows else ""
    if param is not None:
        return f"parameter `{name}` of block `{signature(target.item)}`" + table
    if name in snap.defs.blocks:
        return block_markdown(snap, snap.defs.blocks[name]) + (table or "\n\nnot reached by any analysed network")
    if name in SPECIAL_FORMS:
        return "`residual(f, shortcut=...)`: f's output added to its input (a projection where f changes the " \
               "shape)" + table
    if name in FUNCTIONS:
        return f"`{FUNCTIONS[name][2]}`"
    cls = _op(name)
    if cls is not None:
        return op_markdown(cls) + (table or "\n\nno layer here in any analysed network")
    rows = _value_rows(snap, target.item, name)
    if rows or _named_value(target.item, name) is not None:
        return f"named value `{name}`" + ("\n\n" + _table(rows) if rows else "")
    return None


def _value_rows(snap: Snapshot, item, name: str) -> list:
    named = _named_value(item, name)
    body = named.body if named is not None else None
    while isinstance(body, (S.Chain, S.Assert, S.As)):
        body = body.items[-1] if isinstance(body, S.Chain) else body.body
    return _made_by(snap, body.span) if body is not None else []


def _describe_kwarg(snap: Snapshot, target: Target) -> str | None:
    kw, call = target.node, target.call
    block = snap.defs.blocks.get(call.func)
    if block is not None:
        p = next((p for p in block.params if p.name == kw.name), None)
        return f"parameter `{kw.name}` of block `{signature(block)}`" if p else None
    cls = _op(call.func)
    arg = next((a for a in cls.args if a.name == kw.name), None) if cls else None
    if arg is None:
        return None
    return f"`{kw.name}` of `{op_signature(cls)}` ({arg.kind})" + (f": {arg.doc}" if arg.doc else "")


def _instances(snap: Snapshot, block: str) -> str:
    calls = [n for item in snap.items if not isinstance(item, S.Use) for n in walk(item)
             if isinstance(n, S.Call) and n.func == block or isinstance(n, S.Name) and n.id == block]
    rows = [row for c in calls for row in _made_by(snap, c.span)]
    return ("\n\nused here:\n\n" + _table(rows)) if rows else ""


def _network_markdown(snap: Snapshot, name: str) -> str | None:
    result = snap.nets.get(name)
    if result is None:
        return None
    if result.network is None:
        return f"network `{name}`: not analysed ({len(result.errors) + len(result.warnings)} problem(s) reported)"
    net = result.network
    lines = [f"network `{name}`  {net.graph.signature}",
             f"{net.layer_count:,} layers, {net.total_params:,} params, {net.total_macs:,} MACs"]
    if result.solved is not None:
        lines.append("its holes have one solution: " + ", ".join(
            f"`{h.name if h.name != '?' else '?'}` ({h.argument}) = {result.solved.solutions[0][h.key]}"
            for h in result.solved.holes))
    return "\n\n".join(lines)


def _hole_markdown(snap: Snapshot, hole: S.Hole) -> str:
    from ..lower.holes import key_of

    key = key_of(hole.name, hole.span)
    lines = []
    for name, result in snap.nets.items():
        solved = result.solved
        if solved is None or not any(h.key == key for h in solved.holes):
            continue
        values = sorted({s[key] for s in solved.solutions if key in s})
        count = f"{len(solved.solutions)}" if solved.complete else f"at least {len(solved.solutions)}"
        if len(solved.solutions) == 1:
            lines.append(f"- {name}: solved, **{values[0]}** (the one value that meets its constraints)")
        else:
            shown = ", ".join(map(str, values[:20])) + (", ..." if len(values) > 20 else "")
            lines.append(f"- {name}: open, {count} solutions; best **{solved.solutions[0].get(key)}**; "
                         f"values: {shown}")
    if not lines:
        failing = [n for n, r in snap.nets.items() if r.errors and any(e.kind == "solve" for e in r.errors)]
        lines = [f"- {n}: no value meets the constraints" for n in failing] or ["not solved by any network"]
    return f"hole `{hole.name and '?' + hole.name or '?'}`\n\n" + "\n".join(lines)


def _shape_markdown(snap: Snapshot, shape: S.Shape, item) -> str | None:
    key = _key(shape.span)
    lines = []
    for name, result in snap.nets.items():
        if result.network is None:
            continue
        graph = result.network.graph
        for a in graph.assertions:
            if _key(a.span) == key:
                actual = graph.node(a.node).type
                mark = "holds" if a.holds else "**fails**"
                lines.append(f"- {name}: {mark}: `{a.node}` gives {actual}")
    if lines:
        return f"assertion `: {shape.text()}`\n\n" + "\n".join(lines[:MAX_ROWS])
    if isinstance(item, S.Network) and any(d.shape is shape for d in item.inputs):
        result = snap.nets.get(item.name)
        return f"input `{shape.text()}`" + (f": network {result.network.graph.signature}"
                                            if result and result.network else "")
    return f"assertion `: {shape.text()}`: not checked (no network analysed reaches it)"


def _budget_markdown(snap: Snapshot, budget: S.Budget, item) -> str | None:
    from ..analysis.budgets import met

    result = snap.nets.get(getattr(item, "name", ""))
    if result is None or result.network is None:
        return None
    figure = result.network.total_params if budget.quantity == "params" else result.network.total_macs
    ok = "met" if met(budget.op, figure, budget.value) else "**not met**"
    return f"budget `{budget.quantity} {budget.op} {budget.value:,}`: {ok} ({figure:,} {budget.quantity})"


# ---------------------------------------------------------------- definitions, references, symbols


def definition(snap: Snapshot, line: int, col: int) -> list[Place]:
    target = target_at(snap, line, col)
    if target is None:
        return []
    node = target.node
    if target.kind == "use":
        return [Place(str(p), 1, 1, 1, 1) for u, p in snap.uses if u is node and p is not None]
    name = {"call": getattr(node, "func", None), "name": getattr(node, "id", None)}.get(target.kind)
    if name is None:
        return []
    param = _enclosing_param(target, name)
    if param is not None:
        return [snap.place(param.span)]
    named = _named_value(target.item, name)
    if named is not None:
        return [snap.place(named.name_span)]
    for decl in getattr(target.item, "inputs", ()):
        if isinstance(decl, S.InputDecl) and decl.name == name:
            return [snap.place(decl.name_span)]
    block = snap.defs.blocks.get(name)
    return [p for p in (snap.place(block.name_span),) if p] if block is not None else []


def block_at(snap: Snapshot, line: int, col: int) -> str | None:
    """The block named at the position (a call, a name, or the definition's own name)."""
    target = target_at(snap, line, col)
    if target is None:
        return None
    if target.kind == "block":
        return target.node.name
    name = {"call": getattr(target.node, "func", None), "name": getattr(target.node, "id", None)}.get(target.kind)
    if name in snap.defs.blocks and _enclosing_param(target, name) is None:
        return name
    return None


def _items_of(snap: Snapshot):
    yield from (i for i in snap.items if not isinstance(i, S.Use))
    for module in snap.used.values():
        yield from (i for i in module.items if not isinstance(i, S.Use))


def references(snap: Snapshot, name: str, declaration: bool) -> list[Place]:
    """Every call or use of block `name` in the document and the files it uses."""
    out = []
    for item in _items_of(snap):
        if isinstance(item, S.Block) and any(p.name == name for p in item.params):
            continue  # a parameter of that name hides the block inside this one
        for n in walk(item):
            if isinstance(n, S.Call) and n.func == name:
                out.append(snap.place(n.func_span))
            elif isinstance(n, S.Name) and n.id == name:
                out.append(snap.place(n.span))
    block = snap.defs.blocks.get(name)
    if declaration and block is not None:
        out.insert(0, snap.place(block.name_span))
    return [p for p in dict.fromkeys(out) if p is not None]


def symbols(snap: Snapshot) -> list[tuple[str, str, str, Place, Place]]:
    """(name, "network" or "block", detail, the definition's range, its name's range)."""
    out = []
    for item in snap.items:
        if isinstance(item, S.Network):
            result = snap.nets.get(item.name)
            net = result.network if result is not None and result.item is item else None
            detail = f"{net.graph.signature}, {net.total_params:,} params" if net else \
                ", ".join(d.shape.text() for d in item.inputs)
            out.append((item.name, "network", detail, snap.place(item.span), snap.place(item.name_span)))
        elif isinstance(item, S.Block):
            out.append((item.name, "block", signature(item), snap.place(item.span), snap.place(item.name_span)))
    return [s for s in out if s[3] is not None and s[4] is not None]


# ---------------------------------------------------------------- inlay hints


def inlay_hints(snap: Snapshot, first: int, last: int) -> list[tuple[int, int, str]]:
    """(line, column, label) at the end of each line of a network's chain between lines
    `first` and `last`: the shape the chain has there (the last layer the line makes)."""
    ends: dict[int, Node] = {}
    for result in snap.nets.values():
        if result.network is None:
            continue
        item = snap.place(result.item.span)
        if item is None or item.path is not None or item.end_line < first or item.line > last:
            continue
        got = result.cache.get("line_ends")
        if got is None:  # (source, line in it) -> the last node whose text ends there; lines move, sources not
            got = {}
            for info in result.network.layers:
                node = info.node
                top = node.scopes[0].span if node.scopes else node.span
                got[(top.source, top.end_line)] = (top, node)
            result.cache["line_ends"] = got
        for top, node in got.values():
            place = snap.place(top)
            if place is not None and place.path is None and item.line <= place.end_line <= item.end_line:
                ends[place.end_line] = node
    lines = snap.text.split("\n")
    out = []
    for line, node in sorted(ends.items()):
        if first <= line <= last and line <= len(lines):
            code = lines[line - 1].split("#", 1)[0].rstrip()
            out.append((line, len(code) + 1, f": {node.type}"))
    return out
