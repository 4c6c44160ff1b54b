"""General graphs, through every stage: named values (`f as x`), tuples of values, networks
with several inputs and outputs, blocks with several inputs, `in_c`; their errors; and the
torch, Python-source, ONNX and diagram backends on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import archlang
from archlang.backends.dot import to_dot
from archlang.backends.python_source import python_source
from archlang.benchmark import ort_session
from archlang.errors import DefinitionError, ShapeError

from .conftest import analyse, error_of

SPEC = """
block tower = conv3x3(4) -> relu -> globalavgpool -> flatten
block fuse(c) : (top, lateral) = add(lateral -> conv1x1(c) | top)
block transition = bn -> relu -> conv1x1(in_c // 2) -> avgpool
block dense_layer(g) = concat(identity | bn -> relu -> conv3x3(g))
block level(c, inner) = conv3x3(c) as skip -> inner -> concat(skip | identity)

network siamese(left : 3x8x8, right : 3x8x8) = concat(left -> tower | right -> tower) -> fc(1)
network backbone : 3x16x16 =
    conv3x3(4) -> maxpool -> conv3x3(8) as c3 -> maxpool -> conv3x3(16) as c4 -> maxpool -> conv3x3(32) as c5
    -> (c3, c4, c5)
network neck : 3x16x16 = conv3x3(8) as c1 -> conv3x3(8) as c2 -> (c2, c1) -> fuse(8)
network dense : 4x8x8 = dense_layer(2) * 3 -> transition
network pair : 4 = fc(3) as a -> relu -> (a, identity) -> add
network nested : 2x8x8 = level(4, level(8, conv3x3(16)))
"""


def program():
    return archlang.parse(SPEC, "graphs.arch")


def test_several_outputs_are_named_by_their_values():
    net = program().network("backbone")
    assert net.graph.output_names == ("c3", "c4", "c5")
    assert [(n, str(t)) for n, t in net.outputs] == [("c3", "8x8x8"), ("c4", "16x4x4"), ("c5", "32x2x2")]
    assert net.graph.signature == "3x16x16 -> c3 8x8x8, c4 16x4x4, c5 32x2x2"
    data = net.to_dict()
    assert "output_shape" not in data and data["outputs"][2] == {"name": "c5", "shape": [32, 2, 2]}


def test_several_inputs_and_blocks_with_several_inputs():
    net = program().network("siamese")
    assert [n for n, _ in net.inputs] == ["left", "right"] and net.output_shape == (1,)
    assert net.layers[0].name == "tower1.conv1" and net.graph.node("tower2.conv1").inputs == ("right",)
    neck = program().network("neck")
    assert [i.name for i in neck.layers][-2:] == ["fuse1.conv1", "fuse1.add1"]
    assert neck.graph.node("fuse1.conv1").inputs == ("conv1",)  # lateral = c1
    assert neck.graph.node("fuse1.add1").inputs == ("fuse1.conv1", "conv2")  # top = c2


def test_in_c_and_concatenation_of_everything_before():
    net = program().network("dense")
    assert net.graph.node("dense_layer3.concat1").type.channels == 4 + 3 * 2
    assert net.graph.node("transition1.conv1").type.channels == 5  # in_c // 2
    pair = program().network("pair")
    assert pair.graph.node("add1").inputs == ("fc1", "relu1")


def test_skips_across_nested_levels():
    net = program().network("nested")
    assert net.graph.node("level1.level1.concat1").inputs == ("level1.level1.conv1", "level1.level1.conv2")
    assert net.graph.node("level1.concat1").inputs == ("level1.conv1", "level1.level1.concat1")
    assert net.output_shape == (4 + 8 + 16, 8, 8)


def test_a_value_named_inside_an_asserted_expression_is_declared():
    net = analyse("network n : 2x4x4 = ((conv3x3(2) as c) : 2x4x4) -> relu -> add(c | identity)")
    assert net.graph.node("add1").inputs == ("conv1", "relu1")


def test_a_name_inside_a_block_is_local_to_each_instance():
    net = analyse("block skip2 = conv3x3 as s -> relu -> add(s | identity)\nnetwork n : 2x4x4 = skip2 * 2")
    assert net.graph.node("skip2_1.add1").inputs == ("skip2_1.conv1", "skip2_1.relu1")
    assert net.graph.node("skip2_2.add1").inputs == ("skip2_2.conv1", "skip2_2.relu1")


@pytest.mark.parametrize("text,kind,message,where", [
    ("network n : 4 = fc(2) -> x -> relu as x", DefinitionError, "'x' is used before it is defined", (1, 26)),
    ("network n : 4 = fc(2) as x -> relu as x -> x", DefinitionError, "'x' is defined twice", (1, 39)),
    ("network n : 4 = fc(2) as x -> relu", DefinitionError, "value 'x' of network n is never used", (1, 26)),
    ("network n(a : 4, b : 4) = a -> fc(2)", DefinitionError, "input 'b' of network n is never used", (1, 18)),
    ("network n : 4 = fc(2) as x -> (x, identity) -> relu", ShapeError, "relu takes one value, but 2 arrive", (1, 48)),
    ("network n(a : 4, b : 4) = relu -> (a, b) -> add", ShapeError, "nothing flows into relu here", (1, 27)),
    ("block f : (a, b) = add(a | b)\nnetwork n : 4 = f", ShapeError, "block f takes 2 inputs (a, b), but one value arrives",
     (2, 17)),
    ("network n : 4 = fc(2) as relu -> relu", DefinitionError, "'relu' is a layer", (1, 26)),
    ("block b(c) = fc(c) as c -> relu\nnetwork n : 4 = b(2)", DefinitionError, "'c' is a parameter of block b", (1, 23)),
    ("network n(a : 4, a : 4) = a", DefinitionError, "two inputs named 'a'", (1, 18)),
    ("network n : 4 = relu -> add", Exception, "add needs branches", (1, 25)),
])
def test_graph_errors_point_at_the_place(text, kind, message, where):
    err = error_of(text)
    assert isinstance(err, kind) and message in err.message, err.render()
    assert (err.span.line, err.span.col) == where, err.render()


def test_graph_errors_show_where_the_value_is_defined():
    err = error_of("network n : 4 = fc(2) -> x -> relu as x")
    assert err.notes and err.notes[0].message == "it is defined here" and err.notes[0].span.col == 39


# ---- backends


def _agree(net, module, outs_torch, xs):
    model = archlang.export_onnx(module)
    assert [i.name for i in model.graph.input] == [n for n, _ in net.inputs]
    assert [o.name for o in model.graph.output] == list(net.graph.output_names)
    session = ort_session(model.SerializeToString(), threads=1)
    got = session.run(None, {n: x.numpy() for (n, _), x in zip(net.inputs, xs)})
    for g, t in zip(got, outs_torch):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["siamese", "backbone", "neck", "dense", "pair", "nested"])
def test_torch_source_and_onnx_agree_on_general_graphs(name):
    net = program().network(name)
    module = archlang.build(net, seed=0).eval()
    xs = [torch.randn(2, *t.shape) for _, t in net.inputs]
    with torch.no_grad():
        out = module(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outs] == [t.shape for _, t in net.outputs]
    namespace: dict = {}
    exec(compile(python_source([net.graph], "graphs.arch"), "<generated>", "exec"), namespace)
    standalone = namespace[namespace["__all__"][0]]().eval()
    standalone.load_state_dict(module.state_dict())
    with torch.no_grad():
        again = standalone(*xs)
    again = again if isinstance(again, tuple) else (again,)
    assert all(torch.equal(a, b) for a, b in zip(again, outs))
    _agree(net, module, outs, xs)


def test_torch_export_with_several_inputs(tmp_path):
    net = program().network("siamese")
    from archlang.backends.torch_export import export_program

    export_program(net.graph, tmp_path / "s.pt2", seed=0)
    loaded = torch.export.load(str(tmp_path / "s.pt2")).module()
    xs = [torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8)]
    with torch.no_grad():
        assert torch.allclose(loaded(*xs), archlang.build(net, seed=0).eval()(*xs), atol=1e-6)


def test_diagrams_label_several_inputs_and_outputs():
    source = to_dot(program().network("backbone").graph).source
    for label in ("c3  8x8x8", "c4  16x4x4", "c5  32x2x2"):
        assert label in source
    source = to_dot(program().network("siamese").graph).source
    assert "left  3x8x8" in source and "right  3x8x8" in source


def test_an_input_named_like_a_layer_is_skipped_by_the_counter():
    net = analyse("network n(conv1 : 3x4x4, x : 3x4x4) = add(conv1 -> conv3x3 | x)")
    assert net.layers[0].name == "conv2" and net.graph.inputs[0].name == "conv1"


# ---- conditionals, in_c, Python words, shortcuts

MOBILENET = """
block ir(c, t, s=1) =
    (if t == 1 then identity else conv1x1(in_c * t, bias=false) -> bn -> relu6)
    -> conv3x3(in_c * t, stride=s, groups=in_c * t, bias=false) -> bn -> relu6 -> conv1x1(c, bias=false) -> bn
block inverted_residual(c, t, s=1) = if s == 1 and c == in_c then residual(ir(c, t, s)) else ir(c, t, s)
network n : 16x8x8 = inverted_residual(16, 1) -> inverted_residual(24, 6, 2) -> inverted_residual(24, 6)
"""


def test_one_block_covers_mobilenets_cases_with_if_and_in_c():
    net = analyse(MOBILENET)
    ops = [(i.name, i.op) for i in net.layers]
    assert ops[0] == ("inverted_residual1.ir1.conv1", "conv 3x3, 16, groups 16")  # t = 1: no expansion
    assert ("inverted_residual1.add1", "add") in ops and ("inverted_residual3.add1", "add") in ops
    assert not any(n.startswith("inverted_residual2.add") for n, _ in ops)  # stride 2: no skip
    assert net.graph.node("inverted_residual2.ir1.conv1").type.channels == 16 * 6


@pytest.mark.parametrize("text,value", [
    ("1 < 2 and not 2 <= 1", True), ("1 == 1.0 or 1 / 0 == 1", True), ("false and 1 / 0 == 1", False),
    ("(1, 2) == (1, 2)", True), ("if 3 > 2 then 5 else 1 / 0", 5), ("if 1 != 1 then 2 else if true then 3 else 4", 3),
])
def test_conditions_are_evaluated_lazily(text, value):
    from archlang.lower.evaluate import Evaluator
    from archlang.lower.limits import Work

    program = archlang.parse(f"block b(x={text}) = relu")
    default = program.defs.blocks["b"].params[0].default
    assert Evaluator(program.defs, Work(archlang.Limits())).eval(default, {}) == value


@pytest.mark.parametrize("text,message,hint", [
    ("network n : 4 = if 2 then relu else tanh", "the condition of 'if' must be true or false, got an integer",
     "compare numbers"),
    ("network n : 4 = if relu == tanh then relu else tanh", "compares numbers, booleans and tuples, not layers", None),
    ("network n : 4 = fc(2, bias=True)", "'True' is Python, not .arch", "write true"),
    ("network n : 4 = fc(2, bias=None)", "'None' is Python, not .arch", "leave the argument out"),
    ("network n : 4x8x8 = residual(conv3x3(8), shortcut=identity)", "so an identity shortcut cannot be added",
     "leave 'shortcut' out"),
])
def test_condition_and_shortcut_errors(text, message, hint):
    err = error_of(text)
    assert message in err.message, err.render()
    assert hint is None or hint in err.hint


def test_check_counts_the_projections_residual_inserted(capsys):
    from archlang.cli import main

    assert archlang.load("resnet50").network().projections == 4
    assert archlang.load("resnet18").network().projections == 3
    assert analyse("network n : 4x8x8 = residual(conv3x3(8), shortcut=conv1x1(8))").projections == 0
    assert main(["check", "resnet18"]) == 0
    assert "projections  3 (residual shortcuts that change the shape" in capsys.readouterr().out


SE = """block se(r=4) = mul(identity | globalavgpool -> conv1x1(in_c // r) -> relu -> conv1x1(in_c) -> sigmoid)
network n : 8x6x6 = conv3x3 -> se -> relu"""


def test_squeeze_excitation_gate_broadcasts_in_torch_and_onnx():
    net = analyse(SE)
    assert net.graph.node("se1.mul1").type.shape == (8, 6, 6)
    assert net.graph.node("se1.mul1").inputs == ("conv1", "se1.sigmoid1")
    module = archlang.build(net, seed=0).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        out = module(x)
    _agree(net, module, (out,), [x])
    assert "×" in to_dot(net.graph).source


@pytest.mark.parametrize("text,message", [
    ("network n : 8x6x6 = mul(identity | globalavgpool -> flatten)", "their numbers of axes differ"),
    ("network n : 8x6x6 = mul(identity | conv1x1(4))", "on channels, 4 and 8 neither match nor broadcast"),
    ("network n : 8x6x6 = mul(identity | maxpool3(stride=2))", "on spatial axis 1, 2 and 6 neither match"),
])
def test_mul_says_which_axes_do_not_broadcast(text, message):
    err = error_of(text)
    assert isinstance(err, ShapeError) and message in err.message, err.render()
    assert err.notes and err.notes[0].message.startswith("branch 1 gives 8x6x6")


UNET = """block down(c) = conv3x3(c, pad=0) -> relu -> conv3x3(c, pad=0) -> relu
network u : 1x28x28 = down(4) as skip -> maxpool -> down(8) -> conv1x1(4) as low
    -> concat(skip -> crop(like=low) | identity) -> crop(2)"""


def test_center_crop_to_a_named_value_and_to_a_size():
    net = analyse(UNET)
    crop = net.graph.node("crop1")
    assert crop.inputs == ("down1.relu2",) and crop.type.shape == (4, 8, 8) and crop.op.offsets == (8, 8)
    assert net.output_shape == (8, 2, 2) and net.graph.node("crop2").op.offsets == (3, 3)
    module = archlang.build(net, seed=0).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        out = module(x)
        skip = module.get_submodule("down1.relu2")(module.get_submodule("down1.conv2")(
            module.get_submodule("down1.relu1")(module.get_submodule("down1.conv1")(x))))
    assert torch.equal(out[:, :4], skip[:, :, 8:16, 8:16][:, :, 3:5, 3:5])
    _agree(net, module, (out,), [x])


@pytest.mark.parametrize("text,message", [
    ("network n : 2x4x4 = conv3x3 as a -> conv3x3(pad=2) -> crop(like=a) -> crop(6)", "axis 1 is 4, smaller than 6"),
    ("network n : 2x4x4 = crop(2, like=input)", "crop takes a size or like=, one of them"),
    ("network n : 2x4x4 = crop(like=3)", "must be a named value"),
    ("network n : 2x4x4x4 = conv3x3x3 as a -> flatten -> fc(8) -> crop(2)", "crop needs an input with spatial axes"),
])
def test_crop_errors(text, message):
    err = error_of(text)
    assert message in err.message, err.render()


def test_upsample_to_a_named_values_size():
    net = analyse("network seg : 3x30x30 = conv3x3(8, stride=2) -> conv3x3(8, stride=2) -> conv1x1(5)"
                  " -> upsample(like=input, linear=true)")
    assert net.output_shape == (5, 30, 30) and net.layers[-1].op == "upsample to 30x30, bilinear"
    module = archlang.build(net, seed=0).eval()
    x = torch.randn(2, 3, 30, 30)
    with torch.no_grad():
        out = module(x)
    _agree(net, module, (out,), [x])


def test_numeric_functions_for_widths_and_depths():
    text = """block b(c, d) = conv1x1(max(8, (c + 4) // 8 * 8)) * ceil(d * 1.4)
        -> conv1x1(round(2.5) + floor(3.7) + min(4, 9, 2))
    network n : 3x4x4 = b(21, 3)"""
    assert [i.op for i in analyse(text).layers] == ["conv 1x1, 24"] * 5 + ["conv 1x1, 7"]
    shadowed = analyse("block max(c) = fc(c)\nnetwork n : 4 = max(3)")
    assert shadowed.output_shape == (3,)  # a block of that name wins


@pytest.mark.parametrize("text,message", [
    ("network n : 4 = fc(max(3))", "max takes at least 2 arguments, got 1"),
    ("network n : 4 = fc(ceil(1, 2))", "ceil takes 1 argument, got 2"),
    ("network n : 4 = fc(floor(relu))", "expected a number, got a layer"),
    ("network n : 4 = fc(min(1, x=2))", "min takes no keyword arguments"),
])
def test_numeric_function_errors(text, message):
    err = error_of(text)
    assert message in err.message, err.render()


def test_for_repeats_with_an_index():
    text = """block stage(c, n, t) = for i in n: fc(c) -> stochasticdepth(0.3 * i / t)
    network n : 8 = stage(8, 3, 3) -> (for j in 2: fc(4 * (j + 1)) as x -> relu -> add(x | identity)) -> (for k in 0: tanh)"""
    net = analyse(text)
    depths = [n.op.p for n in net.graph.layers if n.op.name == "stochasticdepth"]
    assert depths == pytest.approx([0.0, 0.1, 0.2])
    assert [n.type.channels for n in net.graph.layers if n.op.name == "fc"] == [8, 8, 8, 4, 8]
    assert net.layers[-1].op == "add"  # `for k in 0` adds nothing


@pytest.mark.parametrize("text,message", [
    ("network n : 4 = for i in 2.5: relu", "'for' counts with an integer of at least 0, got a number"),
    ("network n : 4 = for i in -1: relu", "'for' counts with an integer of at least 0"),
    ("network n : 4 = for i in 200000: relu", "over the limit of 100,000"),
    ("network n : 4 = for i in 2: i", "expected a layer as the body of 'for', got an integer"),
])
def test_for_errors(text, message):
    err = error_of(text)
    assert message in err.message, err.render()


def test_for_inside_a_chain_needs_parentheses_and_says_so():
    err = error_of("network n : 4 = relu -> for i in 2: tanh")
    assert "put it in parentheses" in err.hint, err.render()
