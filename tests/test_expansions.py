"""Stage 2, block calls made again (lower/expansions.py): a copied expansion is exactly the
graph that lowering the call as written gives, and the limits fail in the same place."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archlang
from archlang.errors import LimitError
from archlang.lower import Limits, lower_network
from archlang.lower.expansions import Expansion
from archlang.program import bundled_networks

SPEC = """
block unit(c) = conv3x3(c) -> bn -> relu
block skip = conv3x3 as s -> relu -> add(s | identity)
block checked(c) = unit(c) : ?x8x8 -> unit(c)
block pass_through = identity
block fuse : (a, b) = add(a | b -> relu)
block both : (a, b) = (a, b)
block with_layer(f) = f -> f
block nested(c) = unit(c) * 2 -> skip * 2
block deeper = nested(4) -> nested(4)

network n : 4x8x8 =
    unit(4) * 3 -> skip * 3 -> checked(4) * 2 -> pass_through * 2 -> deeper * 3
    -> with_layer(conv3x3(4)) * 2 -> with_layer(relu) * 2
    -> residual(nested(4)) * 2 -> residual(nested(8)) * 2
    as x -> relu as y -> (x, x) -> fuse -> (y, x) -> fuse as z -> (z, y) -> fuse
    -> (identity, relu) -> both -> add -> (identity, relu) -> both -> add
"""


def lowered(text: str, name: str | None = None, limits: Limits | None = None, *, copies: bool):
    program = archlang.parse(text, "t.arch")
    spec = program.defs.networks[name or next(iter(program.defs.networks))]
    original = Expansion.fits
    if not copies:
        Expansion.fits = lambda self, builder: False
    try:
        return lower_network(spec, program.defs, limits)
    finally:
        Expansion.fits = original


def plain(nodes) -> list:
    """The nodes as values, without the ids that a block instance's identity holds for a named
    value passed to it (they differ from one lowering to the next)."""
    def no_ids(value):
        if isinstance(value, tuple):
            if value[:1] in (("ref",), ("named",)):
                value = value[:-1]
            return tuple(no_ids(v) for v in value)
        return value

    return [(n.name, n.op, n.inputs, n.type, n.span, [(s.name, s.label, s.block, s.span, no_ids(s.identity))
                                                      for s in n.scopes]) for n in nodes]


def copies_made(monkeypatch) -> list:
    made = []
    copy = Expansion.copy

    def counted(self, *args):
        made.append(self.block.name)
        return copy(self, *args)

    monkeypatch.setattr(Expansion, "copy", counted)
    return made


def test_copied_expansions_are_the_graph_lowered_as_written(monkeypatch):
    made = copies_made(monkeypatch)
    copied = lowered(SPEC, copies=True)
    assert {"unit", "skip", "checked", "pass_through", "nested", "deeper", "fuse", "both"} <= set(made)
    assert "with_layer" not in made  # a layer argument carries its call site: lowered each time
    written = lowered(SPEC, copies=False)
    assert copied.nodes == written.nodes  # names, ops, inputs, types, spans, scopes
    assert copied.outputs == written.outputs and copied.assertions == written.assertions
    assert [a.node for a in copied.assertions] == ["checked1.unit1.relu1", "checked2.unit1.relu1"]
    # every block instance is its own Scope object, as when lowered as written
    by_path: dict = {}
    for n in copied.nodes:
        for depth, scope in enumerate(n.scopes, 1):
            by_path.setdefault(".".join(n.name.split(".")[:depth]), set()).add(id(scope))
    assert all(len(ids) == 1 for ids in by_path.values())
    assert len({i for ids in by_path.values() for i in ids}) == len(by_path)


def test_a_layer_that_shares_a_weight_is_not_copied_with_the_first_calls_name():
    text = ("block lm = embed(50, 8) as wte -> relu -> fc(50, bias=false, tie=wte)\n"
            "network m(a : [4], b : [4]) = add(a -> lm | b -> lm)\n")
    copied = lowered(text, copies=True)
    assert [n.op.ties() for n in copied.nodes if n.op.name == "fc"] == [
        (("weight", "lm1.embed1", "weight"),), (("weight", "lm2.embed1", "weight"),)]
    assert plain(copied.nodes) == plain(lowered(text, copies=False).nodes)


BODIES = [  # block bodies that keep the spatial size, for any channels c
    "conv3x3(c) -> bn -> relu",
    "conv3x3(c) as s -> relu -> add(s | identity)",
    "residual(conv3x3(in_c) -> relu)",
    "conv1x1(c) : ?x8x8 -> relu",
    "concat(relu | conv1x1(c))",
    "identity",
    "residual(conv3x3(c))",
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(range(len(BODIES))), min_size=2, max_size=3),
       st.lists(st.tuples(st.integers(0, 3), st.sampled_from([2, 4]), st.integers(1, 3)), min_size=1, max_size=6))
def test_copies_equal_lowering_on_generated_blocks(bodies, calls):
    """Blocks of random bodies, one calling the one before, called with random channels and
    repeats: the graph is the same with and without copies."""
    blocks = [f"block b0(c) = {BODIES[bodies[0]]}"]
    blocks += [f"block b{i}(c) = b{i - 1}(c) -> {BODIES[k]}" for i, k in enumerate(bodies[1:], 1)]
    blocks.append(f"block b{len(bodies)}(c) = b{len(bodies) - 1}(c) * 2")
    chain = " -> ".join(f"b{min(i, len(bodies))}({c}) * {n}" for i, c, n in calls)
    text = "\n".join(blocks) + f"\nnetwork n : 4x8x8 = {chain}\n"
    assert plain(lowered(text, copies=True).nodes) == plain(lowered(text, copies=False).nodes)


@pytest.mark.parametrize("spec", sorted({p.name for p in bundled_networks().values()}))
def test_bundled_specs_lower_the_same_with_copies(spec):
    text = (archlang.resources.specs_dir() / spec).read_text(encoding="utf-8")
    program = archlang.parse(text, spec)
    for name in program.defs.networks:
        assert plain(lowered(text, name, copies=True).nodes) == plain(lowered(text, name, copies=False).nodes), name


@pytest.mark.parametrize("limits,text", [
    (Limits(max_nodes=40), "block u = relu -> relu -> relu\nnetwork n : 3x4x4 = u * 30"),
    (Limits(max_block_depth=3), "block a = relu\nblock b = a\nblock c = b\nblock d = c\nnetwork n : 3x4x4 = c * 2 -> d"),
    (Limits(max_nodes=1), "block a = identity\nblock b = a * 1000\nnetwork n : 3x4x4 = b * 1000 -> relu"),
])
def test_a_copy_that_would_pass_a_limit_fails_where_lowering_fails(limits, text):
    with pytest.raises(LimitError) as copied:
        lowered(text, limits=limits, copies=True)
    with pytest.raises(LimitError) as written:
        lowered(text, limits=limits, copies=False)
    assert str(copied.value) == str(written.value) and copied.value.span == written.value.span


def test_blocks_nested_to_the_limit_and_repeated_stop_at_the_step_limit():
    """A fuzzer's find: 62 blocks each calling the next, repeated 100,000 times, took 21 s and
    1.6 GB before the step limit; a copy per repeat reaches the limit in a fraction of that
    (here with a tenth of the limits)."""
    text = "\n".join(["block b0 = relu", *(f"block b{i} = b{i - 1}" for i in range(1, 63))])
    with pytest.raises(LimitError, match="steps to expand"):
        lowered(text + "\nnetwork n : 3x4x4 = b62 * 100000", limits=Limits(max_nodes=10_000), copies=True)
