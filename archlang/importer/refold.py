"""Import, stage 2: a FlatGraph -> the spec a person would write.

1. The graph becomes a tree (`tree.to_tree`): a chain of layers, where a fork and the merge that
   joins it (found with dominators) become `add(a | b)`, `concat(...)`, `mul(...)`, and an add
   whose other branch is the identity or archlang's default projection becomes `residual(f)`.
2. Runs of equal items become repeats (`tree.fold_repeats`): `(conv3x3(64) -> relu) * 2`.
3. Pieces of chain with the same structure (`skeleton`: ops without their arguments) become
   blocks (`blocks.extract_blocks`): the arguments that differ between the pieces become the block's
   parameters (`c`, `4*c` when one is a multiple of another, `s=1` with the common value as
   default), the pieces become calls, and equal calls in a row become `bottleneck(256) * 5`.
A graph that is not a tree of forks and merges is written with named values instead
(`render_flat`). This module writes either as text; the caller checks it against the graph it
came from.
"""

from __future__ import annotations

import re
from collections import Counter

from ..ops.args import LayerOf
from ..ops.base import lookup, split_suffix
from ..parser import KEYWORDS
from ..formatter import WIDTH  # where a line breaks, as `archlang fmt` breaks it
from .blocks import extract_blocks
from .flat import FlatGraph
from .spelling import Spelled, call_text, literal
from .tree import BlockDef, Branches, Call, Leaf, NotATree, Repeat, Residual, Seq, fold_repeats, sources, text_of, to_tree

__all__ = ["refold", "render_flat", "NotATree"]



def item_text(item) -> str:
    if isinstance(item, Leaf):
        args = lookup(item.call).args
        shown = [(a.name, text_of(v)) for a, v, d in zip(args, item.values, item.drop) if not d]
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
        return f"{body if single else f'({body})'} * {text_of(item.count)}"
    return _call_args(item)


def _call_args(c: Call) -> str:
    shown, keyword = [], False
    for (pname, default, _), v in zip(c.block.params, c.values):
        if default is not None and v == default:
            keyword = True
            continue
        shown.append(f"{pname}={text_of(v)}" if keyword else text_of(v))
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
    blocks = extract_blocks(tree, fg.classes)
    groups = Counter(l.source.split(".")[0] for l in fg.layers if l.source)
    (inp,) = fg.inputs.values()
    return render(tree, blocks, fg, str(inp), groups)


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
