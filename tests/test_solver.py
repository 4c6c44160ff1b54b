"""`archlang solve`: holes solved from assertions, output declarations and budgets, exact
against brute-force enumeration (every combination lowered on its own), ranked by the
field's conventions; `check` with one solution, `-o` round trips, and the errors."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archlang
from archlang.cli import main
from archlang.solver import Domains, NoSolution, brute_force, filled_text, solve

from .conftest import error_of

LENET = """# LeNet-5's first layers: which kernel, stride and padding give 6@28x28?
network lenet : 1x32x32 -> 10 =
    conv(6, k=?, stride=?, pad=?) : 6@28x28 -> tanh -> avgpool : 6@14x14
    -> conv(16, k=?, stride=?, pad=?) : 16@10x10 -> tanh -> avgpool : 16@5x5
    -> flatten -> fc(120) -> tanh -> fc(84) -> tanh -> fc(10)
"""

SMALL = Domains(max_width=4, max_repeat=3)


def same(text: str, domains: Domains = SMALL, name=None) -> list[dict]:
    """solve's solutions, checked equal (as a set) to brute force's; ranked."""
    program = archlang.parse(text)
    found = solve(program, name, None, domains).solutions
    expected = brute_force(program, name, domains)
    assert sorted(map(sorted_items, found)) == sorted(map(sorted_items, expected))
    assert len(found) == len({sorted_items(s) for s in found})  # no solution twice
    return found


def sorted_items(values: dict) -> tuple:
    return tuple(sorted(values.items()))


def test_lenet_ranks_k5_s1_p0_first():
    solved = solve(archlang.parse(LENET))
    assert [h.argument for h in solved.holes] == ["k", "stride", "pad"] * 2
    best = [solved.solutions[0][h.key] for h in solved.holes]
    assert best == [5, 1, 0, 5, 1, 0]
    assert solved.complete and len(solved.solutions) == 494
    assert solved.lowerings <= 5  # the assertions right after each call prune before lowering


@pytest.mark.parametrize("text", [
    # K, S and P of a convolution and a pool, a width held only by a budget
    """network n : 1x9x9 = conv(?, k=?, stride=?, pad=?) : ?x5x5 -> maxpool(k=?, stride=2) -> flatten -> fc(3)
       where params <= 140""",
    # a named hole is one unknown in two places, even in one call; an output declaration
    """network n : 2x8x8 -> 3x4x4 = conv(3, k=?k, pad=1) -> maxpool(k=?k)""",
    """network n : 1x9x9 = conv(?k, k=?k, stride=?, pad=1) : 3x?x?""",
    # a hole in a block body called twice (its values are tried apart once it recurs)
    """block b = conv(2, k=?, pad=?) -> relu
       network n : 1x9x9 = b -> b : 2x5x5""",
    # holes through a block parameter, in arithmetic, and as a repeat count
    """block b(c) = conv(c + 1, k=3) -> relu
       network n : 1x10x10 = b(?) * ? : 3x?x?""",
    # dilation and padding together; groups that must divide the channels
    """network n : 4x9x9 = conv(4, k=3, dilation=?, pad=?, groups=?) : 4x5x5""",
])
def test_solve_equals_brute_force(text):
    assert same(text)


_LAYER = st.sampled_from([
    "conv({c}, k={k}, stride={s}, pad={p})", "maxpool(k={k}, stride={s}, pad={p})",
    "avgpool(k={k}, stride={s})", "relu", "conv({c}, k={k})",
])


@st.composite
def chains_with_holes(draw):
    """A chain of 1 to 3 windowed layers on a small input, some arguments holes, assertions
    where a shape from one concrete instance of the chain is asserted (so that solutions
    exist often) or a random shape (so that they often do not), and maybe a budget."""
    size = draw(st.integers(4, 7))
    layers, concrete, holes = [], [], 0
    for _ in range(draw(st.integers(1, 3))):
        template = draw(_LAYER)
        values = {"c": draw(st.integers(1, 3)), "k": draw(st.integers(1, 3)), "s": draw(st.integers(1, 2))}
        values["p"] = draw(st.integers(0, values["k"] // 2))
        concrete.append(template.format(**values))
        opened = {}
        for k, v in values.items():  # at most 4 holes: brute force stays under a second
            hole = "{" + k + "}" in template and holes < 4 and draw(st.booleans())
            holes += hole
            opened[k] = "?" if hole else v
        layers.append(template.format(**opened))
    spec = f"network n : 2x{size}x{size} = "
    try:
        reference = archlang.parse(spec + " -> ".join(concrete)).network()
    except archlang.ArchError:
        reference = None
    parts = []
    for i, layer in enumerate(layers):
        parts.append(layer)
        if draw(st.booleans()):
            if reference is not None and draw(st.booleans()):
                parts[-1] += " : " + "x".join(map(str, reference.layers[i].output_shape)) if i < len(reference.layers) else ""
            else:
                parts[-1] += f" : {draw(st.integers(1, 3))}x{draw(st.integers(1, size))}x?"
    budget = draw(st.sampled_from(["", " where params <= 30", " where macs >= 40"]))
    return spec + " -> ".join(parts) + budget


@settings(max_examples=40, deadline=None)
@given(chains_with_holes())
def test_solve_equals_brute_force_on_generated_chains(text):
    assume(re.search(r"[(=,]\s*\?", text))  # a hole (a `?` in an assertion is a size)
    program = archlang.parse(text)
    try:
        found = solve(program, None, None, SMALL).solutions
    except NoSolution:
        found = []

    expected = brute_force(program, None, SMALL)
    assert sorted(map(sorted_items, found)) == sorted(map(sorted_items, expected)), text


def test_limit_keeps_the_preferred_and_says_the_count_is_a_floor():
    solved = solve(archlang.parse(LENET), limit=3)
    assert not solved.complete and len(solved.solutions) == 3
    assert [solved.solutions[0][h.key] for h in solved.holes] == [5, 1, 0, 5, 1, 0]


def test_widths_and_repeats_rank_largest_first_under_a_budget():
    found = same("network n : 1x4x4 = conv(?, k=3) * ? -> flatten -> fc(2) where params <= 150")
    program = archlang.parse("network n : 1x4x4 = conv(?, k=3) * ? -> flatten -> fc(2) where params <= 150")
    best = solve(program, None, None, SMALL).solutions[0]
    assert best == max(found, key=lambda s: sum(s.values()))


@pytest.mark.parametrize("text, message", [
    ("network n : 1x32x32 = conv5x5(6, pad=?) : 6@27x27",
     "no values of the holes give 6@27x27 here; the shapes they give are 6x28x28, 6x30x30, 6x32x32, 6x34x34 and 1 more"),
    ("network n : 1x32x32 = conv5x5(?, pad=0) -> flatten -> fc(10) where params <= 10",
     "no values of the holes meet the budget params <= 10: the nearest params they give is 7,876"),
    ("network n : 1x8x8 = conv(2, k=?, groups=3)",
     "no values of the holes work: the furthest the search got ends with: conv: groups=3 must divide both the input "
     "channels (1) and the output channels (2)"),
    ("network n : 1x8x8 = conv(2, k=3)", "network n has no holes"),
    ("network n : 1x9x9 = conv(2, k=?k, pad=?k)",
     "no values of the holes work: the furthest the search got ends with: every value of the holes of conv here "
     "pads by the (dilated) kernel or more"),
])
def test_no_solution_names_the_constraint(text, message):
    with pytest.raises(archlang.ArchError) as info:
        solve(archlang.parse(text), domains=SMALL)
    assert info.value.message == message, info.value.render()
    assert info.value.span is not None


def test_filled_text_changes_only_the_holes_and_checks_clean():
    """A named hole is written wherever it stands; every other character stays."""
    text = LENET.replace("k=?,", "k=?k,")
    program = archlang.parse(text)
    solved = solve(program)
    best = solved.solutions[0]
    assert [h.label for h in solved.holes][:2] == ["k", "3:26"] and best["?k"] == 5
    filled = filled_text(program, solved, best)
    assert filled == text.replace("k=?k, stride=?, pad=?)", "k=5, stride=1, pad=0)")
    assert archlang.parse(filled).network().layers[0].output_shape == (6, 28, 28)


def test_check_reports_the_one_solution_and_refuses_several(tmp_path, capsys):
    one = tmp_path / "one.arch"
    one.write_text("network n : 1x32x32 = conv5x5(6, pad=?) : 6@28x28 -> relu\n")
    assert main(["check", str(one)]) == 0
    assert capsys.readouterr().out.startswith("n: its holes have one solution: 1:38 (pad) = 0\n")
    assert main(["check", str(one), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["solved_holes"] == {"1:38": 0}
    many = tmp_path / "many.arch"
    many.write_text(LENET)
    assert main(["check", str(many)]) == 1
    err = capsys.readouterr().err
    assert "the holes of network lenet have 494 solutions; analysing it needs one" in err
    assert main(["compile", str(one), "-o", str(tmp_path / "m.py")]) == 1  # compile never guesses
    assert "leaves a value open" in capsys.readouterr().err


def test_solve_command_table_json_and_output(tmp_path, capsys):
    spec = tmp_path / "lenet.arch"
    spec.write_text(LENET)
    assert main(["solve", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "lenet: 494 solutions for 6 holes" in out and "best" in out and "... 484 more (--all lists them)" in out
    assert main(["solve", str(spec), "--json", "--limit", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 2 and data["complete"] is False
    assert data["holes"][0] == {"name": "3:15", "line": 3, "column": 15, "argument": "k"}
    assert data["solutions"][0] == {"3:15": 5, "3:25": 1, "3:32": 0, "4:19": 5, "4:29": 1, "4:36": 0}
    out = tmp_path / "filled.arch"
    assert main(["solve", str(spec), "-o", str(out)]) == 0
    assert main(["check", str(out)]) == 0
    assert main(["solve", str(spec), "-o", str(spec)]) == 2  # never over the input
    assert main(["solve", str(spec), "-o", str(tmp_path / "x.py")]) == 2  # a spec goes to a .arch file


def test_program_solve_api():
    solved = archlang.parse(LENET).solve(limit=1)
    assert solved.as_json()["solutions"] == [{"3:15": 5, "3:25": 1, "3:32": 0, "4:19": 5, "4:29": 1, "4:36": 0}]


def test_a_hole_in_a_used_file_cannot_be_filled_in(tmp_path):
    (tmp_path / "blocks.arch").write_text("block b = conv(2, k=?, pad=0)\n")
    spec = tmp_path / "net.arch"
    spec.write_text('use "blocks.arch"\nnetwork n : 1x8x8 = b : 2x6x6\n')
    program = archlang.load(spec)
    solved = solve(program)
    assert [s for s in solved.solutions] == [{solved.holes[0].key: 3}]
    err = error_of  # noqa: F841  (the error is raised by filled_text)
    with pytest.raises(archlang.ArchError, match="lies in a file this spec uses"):
        filled_text(program, solved, solved.solutions[0])


def test_a_channels_argument_is_the_output_channel_count_of_every_op():
    """The contract the solver's assertion filter relies on, for every op in the registry."""
    from archlang.ir import TensorType
    from archlang.ops import canonical_ops

    checked = []
    for op in canonical_ops():
        for arg in (a for a in op.args if a.kind == "channels"):
            x = TensorType(6, (9, 9)) if op.name != "fc" else TensorType(6)
            keyword = {arg.name: 12}
            if op.name == "embed":  # token indices in, vectors of c features out
                x, keyword["vocab"] = TensorType(1, tokens=4, ids=True), 5
            if any(a.name == "k" for a in op.args):
                keyword["k"] = 3
            built = op.make(op.bind([], keyword), x)
            assert built.infer((x,)).channels == 12, op.name
            checked.append(op.name)
    assert {"conv", "fc", "convtranspose"} <= set(checked)


def test_the_bundled_exercises_have_the_answers_their_comments_give():
    """specs/exercises.arch: out of the zoo (they leave something open), loadable by name."""
    assert "lenet_ksp" not in archlang.bundled_networks()
    assert set(archlang.bundled_networks(exercises=True)) - set(archlang.bundled_networks()) == {
        "lenet_ksp", "vgg_pad", "unet_sizes", "budget_width"}
    lenet = archlang.load("lenet_ksp").solve("lenet_ksp")
    assert [lenet.solutions[0][h.key] for h in lenet.holes] == [5, 1, 0, 5, 1, 0]
    vgg = archlang.load("vgg_pad").solve("vgg_pad")
    assert vgg.solutions == [{"?p": 1}]
    mlp = archlang.load("budget_width").solve("budget_width")
    assert len(mlp.solutions) == 125 and list(mlp.solutions[0].values()) == [125]


def test_readme_solve_output_is_current(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = re.findall(r"<!-- solve -->\n```\n\$ archlang (.*?)\n(.*?)```", readme, re.S)
    assert main(block[0].split()) == 0
    strip = lambda text: "\n".join(line.rstrip() for line in text.strip().splitlines())
    assert strip(block[1]) == strip(capsys.readouterr().out)


@pytest.mark.parametrize("text, message", [
    # contradictory assertions
    ("network n : 3x8x8 = conv3x3(?) : 8x8x8 -> relu : 9x8x8",
     "no values of the holes give 9x8x8 here; the shapes they give are 8x8x8"),
    # a hole passed where a block takes a layer
    ("block stage(c, norm=identity) = conv3x3(c) -> norm\nnetwork n : 3x8x8 = stage(8, norm=?)",
     "no values of the holes work: the furthest the search got ends with: expected a layer in a chain, but the hole ? "
     "given for it stands for a whole number"),
    # a space too large to search within the bound (here a tenth of the default, 200,000), no
    # solution among the tries
    ("network n : 16 = fc(?) -> fc(?) -> fc(?) -> fc(?) where params <= 10",
     "network n: 20,000 tries of its holes' values found no solution, and more remain"),
    # ... and where every try failed at the same layer, that layer's error
    ("network n : 3x8x8 = conv3x3(?) -> conv3x3(?) -> fc(?)",
     "network n: 20,000 tries of its holes' values found no solution, and more remain; the furthest they got "
     "ends with: fc needs a flat input, but this input is 1024x8x8"),
])
def test_bad_constraints_end_in_a_located_error(text, message):
    with pytest.raises(archlang.ArchError) as info:
        solve(archlang.parse(text), domains=Domains(max_tries=20_000))
    assert info.value.message == message, info.value.render()
    assert info.value.span is not None
