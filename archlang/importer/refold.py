"""Import, stage 2: a FlatGraph -> the spec a person would write.

1. The graph becomes a tree (`to_tree`): a chain of layers, where a fork and the merge that
   joins it (found with dominators) become `add(a | b)`, `concat(...)`, `mul(...)`, and an add
   whose other branch is the identity or archlang's default projection becomes `residual(f)`.
2. Runs of equal items become repeats (`fold_repeats`): `(conv3x3(64) -> relu) * 2`.
3. Pieces of chain with the same structure (`skeleton`: ops without their arguments) become
   blocks (`extract_blocks`): the arguments that differ between the pieces become the block's
   parameters (`c`, `4*c` when one is a multiple of another, `s=1` with the common value as
   default), the pieces become calls, and equal calls in a row become `bottleneck(256) * 5`.
A graph that is not a tree of forks and merges is written with named values instead
(`render_flat`). Either way the caller checks the text against the graph it came from.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..ir import TensorType
from ..parser import KEYWORDS
from ..ops.base import lookup, split_suffix
from ..ops.args import LayerOf
from .flat import FlatGraph, Layer
from .spelling import Spelled, call_text, literal, spell

__all__ = ["refold", "render_flat", "NotATree"]

MAX_WINDOW = 24  # the longest piece of chain compared when looking for repeats and blocks
MIN_SAVING = 6  # layers a block must save ((uses - 1) x size) to be worth a definition
WIDTH = 100


class NotATree(Exception):
    """The graph has a value read outside the fork that made it (DenseNet's concatenation of
    every earlier output): it is written with named values instead."""


@dataclass(frozen=True)
class P:
    """A block parameter in an argument: `c`, or `4*c`."""

    name: str
    factor: int = 1

    def text(self) -> str:
        return self.name if self.factor == 1 else f"{self.factor}*{self.name}"


def _text(v: Any) -> str:
    return v.text() if isinstance(v, (P, Ref)) else literal(v)


# -- the tree -----------------------------------------------------------------------------

@dataclass(eq=False)
class Leaf:
    call: str
    rank: int
    values: tuple
    drop: tuple
    sources: tuple[str, ...]
    named: str = ""  # `as NAME`: a layer whose weight another shares (`fc(tie=NAME)`)


@dataclass(frozen=True)
class Ref:
    """A named value in an argument: `tie=wte`."""

    name: str

    def text(self) -> str:
        return self.name


@dataclass(eq=False)
class Seq:
    items: list


@dataclass(eq=False)
class Branches:
    call: str
    branches: list  # of Seq


@dataclass(eq=False)
class Residual:
    body: Seq
    shortcut: Seq | None  # None: the default rule (identity or conv1x1 -> bn)


@dataclass(eq=False)
class Repeat:
    body: Seq
    count: Any  # int or P


@dataclass(eq=False)
class Call:
    block: "BlockDef"
    values: tuple
    sources: tuple[str, ...]


@dataclass(eq=False)
class BlockDef:
    name: str
    params: list  # of (name, default or None, kind: "channels" or another argument kind)
    body: Seq


def skeleton(item) -> tuple:
    if isinstance(item, Leaf):
        return ("L", item.call, item.rank, item.named)
    if isinstance(item, Seq):
        return tuple(skeleton(i) for i in item.items)
    if isinstance(item, Branches):
        return ("B", item.call, tuple(skeleton(b) for b in item.branches))
    if isinstance(item, Residual):
        return ("R", skeleton(item.body), None if item.shortcut is None else skeleton(item.shortcut))
    if isinstance(item, Repeat):
        return ("N", skeleton(item.body))
    return ("C", id(item.block))


def columns(item) -> list[tuple[Any, bool, str, str]]:
    """The item's argument values in order: (value, droppable, name, kind)."""
    if isinstance(item, Leaf):
        args = lookup(item.call).args
        return [(v, d, a.name, a.kind) for v, d, a in zip(item.values, item.drop, args)]
    if isinstance(item, Seq):
        return [c for i in item.items for c in columns(i)]
    if isinstance(item, Branches):
        return [c for b in item.branches for c in columns(b)]
    if isinstance(item, Residual):
        return columns(item.body) + (columns(item.shortcut) if item.shortcut else [])
    if isinstance(item, Repeat):
        return [(item.count, False, "n", "count")] + columns(item.body)
    return [(v, False, p[0], p[2]) for v, p in zip(item.values, item.block.params)]


def exact(item) -> tuple:
    return (skeleton(item), tuple((c[0], c[1]) for c in columns(item)))


def size(item) -> int:
    """Layers an item stands for, a call counting as one."""
    if isinstance(item, Leaf):
        return 1
    if isinstance(item, Seq):
        return sum(size(i) for i in item.items)
    if isinstance(item, Branches):
        return 1 + sum(size(b) for b in item.branches)
    if isinstance(item, Residual):
        return 1 + size(item.body) + (size(item.shortcut) if item.shortcut else 0)
    if isinstance(item, Repeat):
        return size(item.body)
    return 1


def sources(item) -> list[str]:
    if isinstance(item, (Leaf, Call)):
        return [s for s in item.sources if s]
    if isinstance(item, Seq):
        return [s for i in item.items for s in sources(i)]
    if isinstance(item, Branches):
        return [s for b in item.branches for s in sources(b)]
    if isinstance(item, Residual):
        return sources(item.body) + (sources(item.shortcut) if item.shortcut else [])
    return sources(item.body)


# -- 1. graph -> tree ---------------------------------------------------------------------

def to_tree(fg: FlatGraph, spelled: dict[str, Spelled]) -> Seq:
    if len(fg.inputs) != 1 or len(fg.outputs) != 1:
        raise NotATree("several inputs or outputs")
    (root,) = fg.inputs
    producer = {l.name: l for l in fg.layers}
    order = {root: 0}
    idom: dict[str, str | None] = {root: None}
    depth = {root: 0}

    def lca(a: str, b: str) -> str:
        while a != b:
            if depth[a] < depth[b]:
                a, b = b, a
            a = idom[a]
        return a

    for i, layer in enumerate(fg.layers, 1):
        order[layer.name] = i
        d = layer.inputs[0]
        for x in layer.inputs[1:]:
            d = lca(d, x)
        idom[layer.name] = d
        depth[layer.name] = depth[d] + 1

    def lca_of(values) -> str:
        d = values[0]
        for x in values[1:]:
            d = lca(d, x)
        return d

    used: Counter = Counter()
    tie_names = tie_targets(fg)

    def chain(y: str, base: str) -> Seq:
        items = []
        while y != base:
            layer = producer.get(y)
            if layer is None or order[y] < order[base]:
                raise NotATree(f"{y} is not reached from {base}")
            if used[layer.name]:  # read from two branches: not a tree (and walking on would repeat work)
                raise NotATree(f"{layer.name} is read outside the fork that made it")
            used[layer.name] += 1
            if lookup(layer.call).merge:
                f = lca_of(layer.inputs)
                items.append(_merge(layer, [chain(x, f) for x in layer.inputs], fg, f))
                y = f
            else:
                s = spelled[layer.name]
                values = tuple(Ref(tie_names[v.node]) if isinstance(v, LayerOf) else v for v in s.values)
                items.append(Leaf(layer.call, fg.types[layer.inputs[0]].rank, values, s.droppable,
                                  (layer.source,), tie_names.get(layer.name, "")))
                y = layer.inputs[0]
        return Seq(items[::-1])

    tree = chain(fg.outputs[0], root)
    if len(used) != len(fg.layers) or any(n != 1 for n in used.values()):
        raise NotATree("a value is read outside the fork that made it")
    return tree


def tie_targets(fg: FlatGraph) -> dict[str, str]:
    """Layers whose weight another layer shares -> the value name the spec gives them."""
    out = {}
    for layer in fg.layers:
        tie = layer.kwargs.get("tie")
        if isinstance(tie, LayerOf) and tie.node not in out:
            source = next((l.source for l in fg.layers if l.name == tie.node), "") or tie.node
            name = re.sub(r"[^A-Za-z0-9_]", "_", source.rsplit(".", 1)[-1]) or "tied"
            if name[0].isdigit() or name in KEYWORDS or lookup(name) is not None or split_suffix(name) is not None:
                name = "v_" + name
            out[tie.node] = name
    return out


def _merge(layer: Layer, branches: list[Seq], fg: FlatGraph, fork: str):
    if layer.call == "add" and len(branches) == 2:
        body, other = branches
        if not other.items or _projection(other, fg, fork, layer):
            return Residual(body, None)
        if not body.items or _projection(body, fg, fork, layer):
            return Residual(other, None)
    return Branches(layer.call, branches)


def _projection(seq: Seq, fg: FlatGraph, fork: str, merge: Layer) -> bool:
    """The shortcut archlang's residual inserts: conv1x1(C, stride=s, bias=false) -> bn."""
    if len(seq.items) != 2 or not all(isinstance(i, Leaf) for i in seq.items):
        return False
    conv, bn = seq.items
    if (conv.call, bn.call) != ("conv", "bn"):
        return False
    xt, yt = fg.types[fork], fg.types[merge.name]
    if xt.rank == 0 or xt.rank != yt.rank:
        return False
    strides = tuple(-(-i // o) for i, o in zip(xt.spatial, yt.spatial))
    args = lookup("conv").args
    want = dict(c=yt.channels, k=1, stride=strides[0] if len(set(strides)) == 1 else strides, pad=0, dilation=1,
                groups=1, bias=False)
    got = dict(zip((a.name for a in args), conv.values))
    got = {k: (v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v) for k, v in got.items()}
    bn_args = lookup("bn").args
    return got == want and bn.values == tuple(a.default for a in bn_args)


# -- 2. repeats ---------------------------------------------------------------------------

def fold_repeats(seq: Seq) -> None:
    """Runs of equal pieces -> `Repeat`, inside out."""
    for item in seq.items:
        for inner in _children(item):
            fold_repeats(inner)
    items = seq.items
    keys = [exact(i) for i in items]
    n = len(items)

    def run_at(i: int) -> tuple[int, int, int]:
        """(cover, length, copies) of the longest-covering run of equal pieces from i."""
        best = (1, 1, 1)
        for length in range(1, min(MAX_WINDOW, (n - i) // 2) + 1):
            k = 1
            while i + (k + 1) * length <= n and keys[i + k * length:i + (k + 1) * length] == keys[i:i + length]:
                k += 1
            if k >= 2 and k * length > best[0]:
                best = (k * length, length, k)
        return best

    out = []
    i = 0
    while i < n:
        cover, length, k = run_at(i)
        # a run is read from a layer with weights (conv -> relu, twice), not from the
        # activation or pool between copies: start one later where that covers as much
        if k >= 2 and isinstance(items[i], Leaf) and not _weighted(items[i]) and i + 1 < n:
            later = run_at(i + 1)
            if later[2] >= 2 and later[0] >= cover - 1:
                out.append(items[i])
                i += 1
                continue
        if k >= 2:
            out.append(Repeat(Seq(items[i:i + length]), k))
            i += k * length
        else:
            out.append(items[i])
            i += 1
    seq.items = out


def _children(item) -> list[Seq]:
    if isinstance(item, Branches):
        return list(item.branches)
    if isinstance(item, Residual):
        return [item.body] + ([item.shortcut] if item.shortcut else [])
    if isinstance(item, Repeat):
        return [item.body]
    return []


def _chains(seq: Seq, out: list[Seq]) -> list[Seq]:
    out.append(seq)
    for item in seq.items:
        for inner in _children(item):
            _chains(inner, out)
    return out


# -- 3. blocks ----------------------------------------------------------------------------

def _weighted(item) -> bool:
    if isinstance(item, Leaf):
        return item.call in ("conv", "dwconv", "convtranspose", "fc", "embed", "attention", "lstm", "gru")
    return not isinstance(item, Call) or True


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
        for inner in _children(item):
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
            for inner in _children(item):
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
    chains = _chains(tree, [])
    found: dict[tuple, list[tuple[Seq, int, int]]] = {}
    for seq in chains:
        skels = [skeleton(i) for i in seq.items]
        for length in range(1, min(MAX_WINDOW, len(seq.items)) + 1):
            for i in range(len(seq.items) - length + 1):
                window = seq.items[i:i + length]
                if not any(not isinstance(w, Leaf) or _weighted(w) for w in window):
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
        shape = (not isinstance(first, Leaf) or _weighted(first)) + (isinstance(end, Leaf) and not _weighted(end))
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
    value, _, name, kind = col
    if kind in ("count", "channels"):
        return None
    for op_name in ("conv", "maxpool", "avgpool", "convtranspose"):
        for a in lookup(op_name).args:
            if a.name == name and a.name in ("stride", "dilation", "groups"):
                return a.default
    return None


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
        convs = sum(1 for i in Seq(items).items for c in [i] if isinstance(c, Residual))
        if any(isinstance(i, Residual) for i in items):
            leaves = [c for c in columns(Seq(items)) if c[2] == "k"]
            name = "bottleneck" if len(leaves) >= 3 else "basic"
        elif any(isinstance(i, Branches) for i in items):
            name = "mixed"
        elif isinstance(items[-1], Leaf) and items[-1].call in ("maxpool", "avgpool"):
            name = "stage"
        else:
            name = "unit"
        del convs
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


# -- text ---------------------------------------------------------------------------------

def item_text(item) -> str:
    if isinstance(item, Leaf):
        args = lookup(item.call).args
        shown = [(a.name, _text(v)) for a, v, d in zip(args, item.values, item.drop) if not d]
        text = call_text(item.call, shown, item.rank)
        return f"{text} as {item.named}" if item.named else text
    if isinstance(item, Seq):
        return " -> ".join(item_text(i) for i in item.items) if item.items else "identity"
    if isinstance(item, Branches):
        return f"{item.call}({' | '.join(item_text(b) for b in item.branches)})"
    if isinstance(item, Residual):
        body = item_text(item.body)
        return f"residual({body}, shortcut={item_text(item.shortcut)})" if item.shortcut else f"residual({body})"
    if isinstance(item, Repeat):
        body = item_text(item.body)
        single = len(item.body.items) == 1 and not isinstance(item.body.items[0], Repeat)
        return f"{body if single else f'({body})'} * {_text(item.count)}"
    return _call_args(item)


def _call_args(c: Call) -> str:
    shown, keyword = [], False
    for (pname, default, _), v in zip(c.block.params, c.values):
        if default is not None and v == default:
            keyword = True
            continue
        shown.append(f"{pname}={_text(v)}" if keyword else _text(v))
    return f"{c.block.name}({', '.join(shown)})" if shown else c.block.name


def _wrap(head: str, pieces: list[tuple[str, str]], indent: str = "    ") -> list[str]:
    """`head` then the chain's pieces, a new line (starting `->`) per source group, and
    wherever a line would pass the width; a group's source name as a trailing comment."""
    lines: list[list] = []  # [text, comment]
    if not pieces:
        return [head, f"{indent}identity"]
    for text, group in pieces:
        if lines and lines[-1][1] == group and len(lines[-1][0]) + 4 + len(text) <= WIDTH - len(indent):
            lines[-1][0] += " -> " + text
        else:
            lines.append([text if not lines else "-> " + text, group])
    out = [head]
    width = max(len(t) for t, _ in lines)
    previous = None
    for text, group in lines:
        comment = f"  # {group}" if group and group != previous else ""
        previous = group
        out.append(f"{indent}{text.ljust(width) if comment else text}{comment}".rstrip())
    return out


def render(tree: Seq, blocks: list[BlockDef], fg: FlatGraph, shape: str, groups: dict[str, int]) -> str:
    out = [f"# imported from {fg.origin} by archlang import", ""]
    for b in blocks:
        params = ", ".join(p if d is None else f"{p}={literal(d)}" for p, d, _ in b.params)
        head = f"block {b.name}({params}) =" if params else f"block {b.name} ="
        out += _wrap(head, [(item_text(i), "") for i in b.body.items]) + [""]
    pieces = []
    for item in tree.items:
        srcs = sources(item)
        top = Counter(s.split(".")[0] for s in srcs).most_common(1)
        group = (top[0][0] if groups.get(top[0][0], 0) > 1 else "") if top else None
        pieces.append((item_text(item), group))
    # items with no source name (functions in forward) join the line before them
    for k in range(len(pieces)):
        if pieces[k][1] is None:
            pieces[k] = (pieces[k][0], pieces[k - 1][1] if k else "")
    out += _wrap(f"network {fg.name} : {shape} =", pieces)
    return "\n".join(out) + "\n"


def refold(fg: FlatGraph, spelled: dict[str, Spelled]) -> str:
    """The flat graph as a spec with blocks and repeats; NotATree where it has no such form."""
    tree = to_tree(fg, spelled)
    fold_repeats(tree)
    blocks = extract_blocks(tree, fg_classes(fg))
    groups = Counter(l.source.split(".")[0] for l in fg.layers if l.source)
    (inp,) = fg.inputs.values()
    return render(tree, blocks, fg, str(inp), groups)


def fg_classes(fg: FlatGraph) -> dict[str, str]:
    return getattr(fg, "classes", {})


# -- named values: any graph --------------------------------------------------------------

def render_flat(fg: FlatGraph, spelled: dict[str, Spelled]) -> str:
    """Every layer in order, values read out of order named (`as v3`) and merges reading
    named values (`(v3, v7) -> add`): the form for graphs that are not trees of forks."""
    readers: Counter = Counter(i for l in fg.layers for i in l.inputs)
    names: dict[str, str] = {}
    multi = len(fg.inputs) > 1
    for i, n in enumerate(fg.inputs):
        names[n] = n if multi else "input"

    def name_of(value: str) -> str:
        if value not in names:
            name = re.sub(r"[^A-Za-z0-9_]", "_", value)
            if name[0].isdigit():
                name = "v_" + name
            if name in KEYWORDS or lookup(name) is not None or split_suffix(name) is not None \
                    or name in ("input", "residual", "in_c"):
                name += "_out"
            names[value] = name
        return names[value]

    prev = None if multi else list(fg.inputs)[0]
    pieces: list[str] = []
    outputs = set(fg.outputs)
    tied = {l.kwargs["tie"].node for l in fg.layers if isinstance(l.kwargs.get("tie"), LayerOf)}
    # values read other than by the next layer as its only input: they need a name
    read_apart = {i for k, l in enumerate(fg.layers) for i in l.inputs
                  if lookup(l.call).merge or k == 0 or fg.layers[k - 1].name != i}
    for layer in fg.layers:
        merge = lookup(layer.call).merge
        if merge:
            pieces.append(f"({', '.join(name_of(i) for i in layer.inputs)}) -> {layer.call}")
        else:
            x = layer.inputs[0]
            s = spelled[layer.name]
            args = lookup(layer.call).args
            text = call_text(layer.call, [(a.name, name_of(v.node) if isinstance(v, LayerOf) else literal(v))
                                          for a, v, d in zip(args, s.values, s.droppable) if not d],
                             fg.types[x].rank)
            pieces.append(text if x == prev else f"{name_of(x)} -> {text}")
        needs_name = layer.name in outputs or layer.name in tied or readers[layer.name] > 1 \
            or layer.name in read_apart
        if needs_name:
            pieces[-1] += f" as {name_of(layer.name)}"
        prev = layer.name
    if len(fg.outputs) > 1:
        pieces.append(f"({', '.join(name_of(o) for o in fg.outputs)})")
    elif fg.outputs[0] != prev:
        pieces.append(name_of(fg.outputs[0]))
    if multi:
        head = f"network {fg.name}({', '.join(f'{n} : {t}' for n, t in fg.inputs.items())}) ="
    else:
        head = f"network {fg.name} : {list(fg.inputs.values())[0]} ="
    out = [f"# imported from {fg.origin} by archlang import (written with named values: the graph "
           "is not a tree of branches)", ""]
    out += _wrap(head, [(p, "") for p in pieces])
    return "\n".join(out) + "\n"
