"""Import, stage 2b: pieces of chain with the same structure become blocks.

`extract_blocks` looks for the piece (a window of a chain, compared by skeleton) whose uses
save the most layers, makes it a block whose parameters are the arguments that differ between
the uses (`c`, `4 * c` when one is a multiple of another, `s=1` with the usual value as its
default; an argument the defaults give in every use is left out), replaces the uses by calls,
folds equal calls in a row into repeats, and goes on while a block is worth its definition.
A block only another block calls is written out there (`_inline`). Blocks are named after the
source's class where each use is one module (`Bottleneck` -> `bottleneck`), or what they hold.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..ops.base import lookup, split_suffix
from ..parser import KEYWORDS
from .tree import (MAX_WINDOW, BlockDef, Branches, Call, Leaf, P, Repeat, Residual, Seq, chains, children, columns,
                   fold_repeats, size, skeleton, sources, weighted)

__all__ = ["extract_blocks"]

MIN_SAVING = 6  # layers a block must save ((uses - 1) x size) to be worth a definition


def extract_blocks(tree: Seq, names: dict[str, str]) -> list[BlockDef]:
    blocks: list[BlockDef] = []
    for _ in range(16):
        best = _best_pattern(tree)
        if best is None:
            break
        occurrences = best
        block = _make_block(occurrences, blocks, names)
        blocks.append(block)
        fold_repeats(tree)
    return _inline(tree, blocks)


def _calls(item, out: list) -> list:
    if isinstance(item, Call):
        out.append(item)
    elif isinstance(item, Seq):
        for i in item.items:
            _calls(i, out)
    else:
        for inner in children(item):
            _calls(inner, out)
    return out


def _inline(tree: Seq, blocks: list[BlockDef]) -> list[BlockDef]:
    """A block called only from one other block's body is written out there: VGG's stage is
    `(conv3x3(c) -> relu) * n -> maxpool`, not a call of a two-layer block."""
    changed = True
    while changed:
        changed = False
        in_tree = {id(c.block) for c in _calls(tree, [])}
        for b in blocks:
            if id(b) in in_tree:
                continue
            hosts = [h for h in blocks if h is not b and any(c.block is b for c in _calls(h.body, []))]
            if len(hosts) != 1:
                continue
            _substitute(hosts[0].body, b)
            blocks.remove(b)
            changed = True
            break
    return blocks


def _substitute(seq: Seq, block: BlockDef) -> None:
    for k, item in enumerate(seq.items):
        if isinstance(item, Call) and item.block is block:
            env = {p[0]: v for p, v in zip(block.params, item.values)}
            body = _bind(block.body, env)
            seq.items[k] = body.items[0] if len(body.items) == 1 else body
        else:
            for inner in children(item):
                _substitute(inner, block)
    # a body spliced in as a Seq item: flatten it into the chain
    flat = []
    for item in seq.items:
        flat.extend(item.items if isinstance(item, Seq) else [item])
    seq.items = flat


def _scaled(v, env):
    if not isinstance(v, P):
        return v
    bound = env[v.name]
    if isinstance(bound, P):
        return P(bound.name, bound.factor * v.factor)
    return bound * v.factor


def _bind(item, env):
    if isinstance(item, Leaf):
        return Leaf(item.call, item.rank, tuple(_scaled(v, env) for v in item.values), item.drop, item.sources)
    if isinstance(item, Seq):
        return Seq([_bind(i, env) for i in item.items])
    if isinstance(item, Branches):
        return Branches(item.call, [_bind(b, env) for b in item.branches])
    if isinstance(item, Residual):
        return Residual(_bind(item.body, env), _bind(item.shortcut, env) if item.shortcut else None)
    if isinstance(item, Repeat):
        return Repeat(_bind(item.body, env), _scaled(item.count, env))
    return Call(item.block, tuple(_scaled(v, env) for v in item.values), item.sources)


def _best_pattern(tree: Seq):
    every = chains(tree, [])
    found: dict[tuple, list[tuple[Seq, int, int]]] = {}
    for seq in every:
        skels = [skeleton(i) for i in seq.items]
        for length in range(1, min(MAX_WINDOW, len(seq.items)) + 1):
            for i in range(len(seq.items) - length + 1):
                window = seq.items[i:i + length]
                if not any(weighted(w) for w in window):
                    continue
                found.setdefault(tuple(skels[i:i + length]), []).append((seq, i, length))
    best, best_key = None, None
    for skel, places in found.items():
        chosen, last = [], {}
        for seq, i, length in places:  # non-overlapping, left to right in each chain
            if i >= last.get(id(seq), 0):
                chosen.append((seq, i, length))
                last[id(seq)] = i + length
        if len(chosen) < 2:
            continue
        window = chosen[0][0].items[chosen[0][1]:chosen[0][1] + chosen[0][2]]
        n = sum(size(w) for w in window)
        if n < 2 and not any(isinstance(w, (Residual, Branches)) for w in window):
            continue
        saving = (len(chosen) - 1) * n
        if saving < MIN_SAVING:
            continue
        # ties: a piece that starts with a weighted layer (or a merge) and ends with one without
        first, end = window[0], window[-1]
        shape = weighted(first) + (isinstance(end, Leaf) and not weighted(end))
        key = (saving, shape, n)
        if best_key is None or key > best_key:
            best, best_key = chosen, key
    return best


def _make_block(occurrences, blocks: list[BlockDef], names: dict[str, str]) -> BlockDef:
    windows = [seq.items[i:i + length] for seq, i, length in occurrences]
    cols = [[c for w in window for c in columns(w)] for window in windows]
    ncol = len(cols[0])
    assign: list[Any] = []  # per column: ("lit", value, dropped) or P
    params: list[tuple[str, Any, str]] = []  # (name, default, kind)
    param_cols: list[int] = []
    taken = {b.name for b in blocks}
    for j in range(ncol):
        vals = [c[j][0] for c in cols]
        if all(v == vals[0] for v in vals) or all(c[j][1] for c in cols):
            # the same everywhere, or what the defaults give everywhere (a convolution's padding
            # for its kernel): no parameter
            assign.append(("lit", vals[0], all(c[j][1] for c in cols)))
            continue
        ref = None
        for k in param_cols:
            base = [c[k][0] for c in cols]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in vals + base):
                ratios = {v // b if b and v % b == 0 else None for v, b in zip(vals, base)}
                if len(ratios) == 1 and None not in ratios:
                    ref = P(assign[k].name, ratios.pop())
                    break
        if ref is None:
            name, kind = cols[0][j][2], cols[0][j][3]
            pname = {"c": "c", "stride": "s", "count": "n", "n": "n"}.get(name, name)
            used = {p[0] for p in params}
            base_name, k = pname, 2
            while pname in used:
                pname, k = f"{base_name}{k}", k + 1
            mode, count = Counter(vals).most_common(1)[0]
            declared = _declared_default(cols[0][j])
            default = mode if count * 2 >= len(vals) and declared is not None and mode == declared else None
            params.append((pname, default, kind))
            param_cols.append(j)
            ref = P(pname)
        assign.append(ref)
    # parameters without defaults first, channels before other values
    order = sorted(range(len(params)), key=lambda i: (params[i][1] is not None, params[i][2] != "channels", i))
    ordered = [params[i] for i in order]
    name = _block_name(windows, taken, names)
    template = iter(assign)
    body = Seq([_rebuild(w, template) for w in windows[0]])
    block = BlockDef(name, ordered, body)
    # the pieces become calls, from the last piece of each chain so indices stay valid
    for (seq, i, length), c in sorted(zip(occurrences, cols), key=lambda t: (id(t[0][0]), -t[0][1])):
        values = []
        for pname, _, _ in block.params:
            j = param_cols[[p[0] for p in params].index(pname)]
            values.append(c[j][0])
        srcs = tuple(s for w in seq.items[i:i + length] for s in sources(w))
        seq.items[i:i + length] = [Call(block, tuple(values), srcs)]
    return block


def _declared_default(col) -> Any:
    """The op's own default for a stride, dilation or group count (a parameter may default to it)."""
    _, _, name, _, default = col
    return default if name in ("stride", "dilation", "groups") and isinstance(default, int) else None


def _rebuild(item, template):
    if isinstance(item, Leaf):
        values, drop = [], []
        for _ in item.values:
            a = next(template)
            if isinstance(a, P):
                values.append(a)
                drop.append(False)
            else:
                values.append(a[1])
                drop.append(a[2])
        return Leaf(item.call, item.rank, tuple(values), tuple(drop), item.sources)
    if isinstance(item, Seq):
        return Seq([_rebuild(i, template) for i in item.items])
    if isinstance(item, Branches):
        return Branches(item.call, [_rebuild(b, template) for b in item.branches])
    if isinstance(item, Residual):
        body = _rebuild(item.body, template)
        return Residual(body, _rebuild(item.shortcut, template) if item.shortcut else None)
    if isinstance(item, Repeat):
        a = next(template)
        count = a if isinstance(a, P) else a[1]
        return Repeat(_rebuild(item.body, template), count)
    values = []
    for _ in item.values:
        a = next(template)
        values.append(a if isinstance(a, P) else a[1])
    return Call(item.block, tuple(values), item.sources)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _block_name(windows, taken: set[str], classes: dict[str, str]) -> str:
    """The source's class for these pieces where each is one module (Bottleneck ->
    bottleneck), else a name from what they hold."""
    name = None
    prefixes = []
    for w in windows:
        srcs = [s for item in w for s in sources(item)]
        prefixes.append(_common_prefix(srcs))
    kinds = {classes.get(p) for p in prefixes}
    unique = len(set(prefixes)) == len(prefixes) and all(prefixes)
    if len(kinds) == 1 and None not in kinds and unique:
        name = _snake(kinds.pop())
    elif unique and not any(re.search(r"\.\d+$|^\d+$", p) for p in prefixes):
        stems = {re.sub(r"[\d_.]+$", "", p.split(".")[-1]) for p in prefixes}
        if len(stems) == 1 and stems != {""}:
            name = _snake(stems.pop())  # one module each, numbered: layer2, layer3 -> layer
    if not name or name in ("sequential", "module_list", "module_dict"):
        items = windows[0]
        if any(isinstance(i, Residual) for i in items):
            leaves = [c for c in columns(Seq(items)) if c[2] == "k"]
            name = "bottleneck" if len(leaves) >= 3 else "basic"
        elif any(isinstance(i, Branches) for i in items):
            name = "mixed"
        elif isinstance(items[-1], Leaf) and items[-1].call in ("maxpool", "avgpool"):
            name = "stage"
        else:
            name = "unit"
    name = re.sub(r"[^a-z0-9_]", "_", name) or "unit"
    if name[0].isdigit():
        name = "b" + name
    base, k = name, 2
    while name in taken or lookup(name) is not None or split_suffix(name) is not None or name in KEYWORDS:
        name, k = f"{base}{k}", k + 1
    return name


def _common_prefix(paths: list[str]) -> str:
    if not paths:
        return ""
    parts = [p.split(".") for p in paths]
    out = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        out.append(level[0])
    return ".".join(out)

