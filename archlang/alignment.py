"""Layer alignment for `archlang diff`: two graphs' layers -> pairs, added and removed.

Takes the layers of network A and of network B, each in topological order (`Graph.layers`),
and gives the (A name, B name) pairs of the layers that match; a layer of B in no pair was
added, a layer of A in no pair was removed (`compare` reports both, and a pair whose op
differs as changed). The layers are aligned with difflib on their op's IR text
(`conv{in_channels=64, ...}`), first within the same block instances, then within the same
nesting of blocks, so unchanged layers pair whatever their names; inside a region left
unmatched, layers of the same op pair in order. A run of inserted layers then slides, as git
slides a hunk, to whole block instances, else to the end of a run of equal layers (a fourth
conv, not a new first).
"""

from __future__ import annotations

from .ir import Node, _op_text

__all__ = ["align"]


def align(la: tuple[Node, ...], lb: tuple[Node, ...]) -> list[tuple[str, str]]:
    """(A name, B name) of the layers that match. Three passes, each inside the regions the one
    before left unmatched: the same op text in the same block instances (blocks with their
    arguments: a bottleneck(128, 2)'s add is not a bottleneck(128)'s); the same op text in the
    same nesting of blocks; the same op, in order (these are the changed layers). Then each
    run of added (or removed) layers slides along the equal layers around it, as git slides a
    hunk: to where it is whole block instances, else as far down as it goes (one more
    conv -> relu in a stage of three is its fourth, not its first)."""
    from difflib import SequenceMatcher

    tiers = (lambda n: (tuple(s.identity for s in n.scopes), _op_text(n.op)),
             lambda n: (tuple(s.block for s in n.scopes), _op_text(n.op)),
             lambda n: n.op.name)
    matches: list[tuple[int, int]] = []
    paths_a, paths_b = ([tuple(s.name for s in n.scopes) for n in nodes] for nodes in (la, lb))

    def walk(i0: int, i1: int, j0: int, j1: int, tier: int) -> None:
        ka, kb = [tiers[tier](n) for n in la[i0:i1]], [tiers[tier](n) for n in lb[j0:j1]]
        found = []
        for tag, a1, a2, b1, b2 in SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
            if tag == "equal":
                found.extend(zip(range(a1, a2), range(b1, b2)))
            elif tag == "replace" and tier + 1 < len(tiers):
                walk(i0 + a1, i0 + a2, j0 + b1, j0 + b2, tier + 1)
        found = _slid(found, kb, paths_b[j0:j1])
        found = _slid([(j, i) for i, j in found], ka, paths_a[i0:i1])
        matches.extend((i0 + i, j0 + j) for j, i in found)

    walk(0, len(la), 0, len(lb), 0)
    matches.sort()
    slid = _slid(matches, [tiers[1](n) for n in lb], paths_b)
    slid = _slid([(j, i) for i, j in slid], [tiers[1](n) for n in la], paths_a)
    return [(la[i].name, lb[j].name) for j, i in slid]


def _slid(matches: list[tuple[int, int]], keys: list, paths: list) -> list[tuple[int, int]]:
    """`matches` (other side, this side) with each run of this side's unmatched layers slid
    between the matched ones around it (`paths`: each layer's block instance path)."""
    from os.path import commonprefix  # of any sequences: here, tuples of scope names

    to = {y: x for x, y in matches}
    n, y = len(keys), 0
    while y < n:
        if y in to:
            y += 1
            continue
        lo = y
        while y < n and y not in to:
            y += 1
        hi, before = y, to.get(lo - 1, -1)
        if y == n or to[hi] != before + 1:
            continue  # the other side has unmatched layers here too: a replacement, not a run to slide
        up = down = 0
        while lo - up > 0 and to.get(lo - up - 1) == before - up and keys[lo - up - 1] == keys[hi - up - 1]:
            up += 1
        while hi + down < n and to.get(hi + down) == before + 1 + down and keys[lo + down] == keys[hi + down]:
            down += 1

        def whole(k: int) -> bool:  # no block instance holds both a layer of the run and one beside it
            inside = len(commonprefix(paths[lo + k:hi + k]))
            return all(i in (0, n) or len(commonprefix(paths[i - 1:i + 1])) <= inside for i in (lo + k, hi + k))

        shift = max(range(-up, down + 1), key=lambda k: (whole(k), k))
        for t in range(shift):
            to[lo + t] = to.pop(hi + t)
        for t in range(-shift):
            to[hi - 1 - t] = to.pop(lo - 1 - t)
        y = hi + max(shift, 0)
    return sorted((x, y) for y, x in to.items())
