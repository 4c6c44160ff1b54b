"""`archlang explain`: every formula it prints evaluates to the figure `archlang check` reports.

Driven by the op registry through tests/test_ops.py's table of per-op specs (read as data, so
that this file never imports torch): for every case, each layer's parameter and MAC formulas,
evaluated as arithmetic, equal param_counts and mac_counts, its shape lines give the output
shape, and its receptive-field recurrence gives receptive_fields' size and jump.
"""

import ast
import json
import math
import re
from fractions import Fraction
from pathlib import Path

import pytest

from archlang.analysis import mac_counts, param_counts, receptive_fields
from archlang.cli import main
from archlang.explain import explain, plain_text
from archlang.ops import canonical_ops

from .conftest import analyse

ROOT = Path(__file__).resolve().parents[1]


def _op_cases() -> dict[str, list[tuple[str, str]]]:
    """test_ops.CASES, read from its source: importing test_ops would import torch."""
    tree = ast.parse((ROOT / "tests" / "test_ops.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CASES")
    return ast.literal_eval(node.value)


CASES = _op_cases()


def evaluate(numbers: str) -> Fraction:
    """A formula's `numbers` as exact arithmetic: words and parenthesised notes dropped, `x`
    times, `/` exact division, floor, ceil and max."""
    text = re.sub(r"\s*\([a-z ,']+\)", "", numbers)  # (scale, shift), (gamma)
    text = re.sub(r"\b(?!x\b|floor\b|ceil\b|max\b)[a-z_]+\b", "", text)  # 6 biases, 28 outputs
    tree = ast.parse(text.replace(" x ", " * "), mode="eval")

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and type(n.value) is int:
            return Fraction(n.value)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            ops = {ast.Add: a.__add__, ast.Sub: a.__sub__, ast.Mult: a.__mul__, ast.Div: a.__truediv__}
            return ops[type(n.op)](b)
        if isinstance(n, ast.Call) and n.func.id in ("floor", "ceil", "max"):
            args = [ev(a) for a in n.args]
            return Fraction({"floor": math.floor, "ceil": math.ceil, "max": max}[n.func.id](*args))
        raise AssertionError(f"not arithmetic: {ast.dump(n)} in {numbers!r}")

    return ev(tree)


def check_formula(f, figure) -> None:
    """The formula evaluates to its value, which is the analysis figure, and says so."""
    if f.numbers:
        assert evaluate(f.numbers) == f.value, f.text
    else:
        assert f.rule or f.value == 0, f.text
    assert f.value == figure, f.text
    assert f"{f.value:,}" in f.text if isinstance(f.value, int) else str(f.value) in f.text


ALL = [pytest.param(text, shape, id=f"{name}:{text}@{shape}") for name, cases in CASES.items()
       for text, shape in cases]


def test_the_table_covers_every_op():
    assert {op.name for op in canonical_ops()} == set(CASES)


@pytest.mark.parametrize("text,shape", ALL)
def test_every_formula_equals_the_analysis(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    graph = net.graph
    params, macs, fields = param_counts(graph), mac_counts(graph), receptive_fields(graph)
    for exp, node in zip(explain(net), graph.layers):
        check_formula(exp.params, params[node.name])
        check_formula(exp.macs, macs[node.name])
        out, first = node.type.shape, graph.input_types(node)[0].shape
        covered = set()
        for line in exp.shape.lines:
            for axis in line.axes:
                check_formula(line, out[axis])
                covered.add(axis)
        assert exp.shape.value == out
        for axis in range(len(out)):  # every axis the op changes has its line
            if axis not in covered:
                assert len(first) == len(out) and first[axis] == out[axis], (exp.shape.text, first, out)
        step, field = exp.receptive_field, fields[node.name]
        if not net.input_type.rank and not net.input_type.tokens:  # a sequence has a field in tokens
            assert step is None
            continue
        assert step.field == field
        if field is None:
            assert "global" in step.text
        elif step.sizes:
            for f, size in zip(step.sizes, field.size):
                check_formula(f, size)
            for f, jump in zip(step.jumps, field.jump):
                check_formula(f, jump)


def _one(text: str, shape: str, layer: int = 0):
    net = analyse(f"network n : {shape} = {text}")
    return explain(net)[layer]


def test_a_division_that_rounds_shows_its_floor():
    exp = _one("conv7x7(64, stride=2)", "3x224x224")
    assert exp.shape.lines[1].text == "O = floor((I + 2P - K)/S) + 1 = floor((224 + 6 - 7)/2) + 1 = 112"
    assert exp.params.text == "64 x (3 x 7 x 7) + 64 biases = 9,472"


def test_axes_that_differ_get_a_line_each_and_dilation_its_rule():
    exp = _one("conv(6, k=(1, 7), stride=(1, 2), dilation=(1, 2))", "3x5x20")
    assert [line.label for line in exp.shape.lines[1:]] == ["height", "width"]
    assert exp.shape.lines[2].text.startswith("width: O = floor((I + 2P - D(K - 1) - 1)/S) + 1 = "
                                              "floor((20 + 12 - 2 x (7 - 1) - 1)/2) + 1 = 10")
    assert "height: size 1 -> 1" in exp.receptive_field.text and "width: size 1 -> 13 = 1 + 2 x (7 - 1) x 1" \
        in exp.receptive_field.text


def test_ceil_mode_and_transposed_convolution_state_their_own_rules():
    assert "ceil((8 + 0 - 3)/2) + 1 = 4" in _one("maxpool3x3(stride=2, ceil_mode=true)", "2x8x8").shape.text
    exp = _one("convtranspose2x2(4, stride=2)", "3x5x5")
    assert exp.shape.lines[1].text == ("O = (I - 1)S - 2P + D(K - 1) + output_padding + 1 = "
                                       "(5 - 1) x 2 - 0 + 1 x (2 - 1) + 0 + 1 = 10")
    assert "jump 1 -> 1/2 = 1 x 1/2" in exp.receptive_field.text


def test_channels_groups_and_depthwise_in_words():
    assert _one("conv5x5(6, pad=0)", "1x32x32").channels == (
        "6 filters of 1x5x5, one per output feature map: 6@28x28 is 6 maps of 28x28")
    assert "each filter sees in_c/groups = 4/2 = 2 of the 4" in _one("conv3x3(4, groups=2)", "4x6x6").channels
    assert "depthwise" in _one("dwconv3x3", "4x6x6").channels


def test_norms_count_trained_parameters_and_say_the_statistics_are_not():
    assert _one("bn", "64x4x4").params.text == (
        "2 x 64 (scale, shift) = 128 (plus 2 x 64 running statistics, not trained)")
    assert _one("relu", "3x4x4").params.text == "0 (relu has no weights)"
    assert _one("fc(120)", "400").params.text == "120 x 400 + 120 biases = 48,120"


def test_merges_name_their_branches_and_residuals_their_shortcut():
    exp = _one("concat(conv3x3(2) | identity)", "4x6x6", 1)
    assert [b.name for b in exp.merge.branches] == ["conv1", "input"]
    assert exp.shape.lines[0].text == "C = C1 + C2 = 2 + 4 = 6"
    ident = _one("residual(conv3x3)", "4x6x6", 1).merge
    assert ident.shortcut == "identity" and [b.role for b in ident.branches] == ["body", "shortcut"]
    proj = _one("residual(conv3x3(8, stride=2))", "4x6x6", 3).merge
    assert proj.shortcut == "projection"
    assert "channels, 4 -> 8" in proj.reason and "6x6 -> 3x3" in proj.reason
    given = _one("residual(conv3x3(8), shortcut=conv1x1(8))", "4x6x6", 2).merge
    assert given.shortcut == "given"


def test_cli_plain_json_and_one_layer(capsys):
    assert main(["explain", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "fc1  fc 120  400 -> 120" in out and "120 x 400 + 120 biases = 48,120" in out
    assert main(["explain", "lenet5", "--layer", "maxpool1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["network"] == "lenet5" and len(data["layers"]) == 1
    layer = data["layers"][0]
    assert layer["receptive_field"] == {"size": [6, 6], "jump": [2, 2],
                                        "formula": "size 5 -> 6 = 5 + (2 - 1) x 1; jump 1 -> 2 = 1 x 2"}
    assert layer["shape_rule"]["value"] == [6, 14, 14] and layer["params"]["value"] == 0 and layer["merge"] is None


def test_cli_unknown_layer_is_a_usage_error_naming_the_closest(capsys):
    assert main(["explain", "lenet5", "--layer", "conv9"]) == 2
    assert "no layer named 'conv9' in lenet5 (did you mean 'conv2', 'conv1'?)" in capsys.readouterr().err
    assert main(["explain", "lenet5", "--layer", "conv9", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["errors"][0]["kind"] == "usage"


def _strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_readme_explain_output_is_current(capsys):
    """Each `<!-- explain -->` block of the README: its commands print what it shows."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- explain -->\n```\n(.*?)```", readme, re.S)
    assert len(blocks) == 2  # the LeNet and VGG tours
    for block in blocks:
        parts = re.split(r"^\$ archlang (.*)$", block, flags=re.M)[1:]
        assert parts
        for command, shown in zip(parts[::2], parts[1::2]):
            assert main(command.split()) == 0
            assert _strip(shown) == _strip(capsys.readouterr().out), command
