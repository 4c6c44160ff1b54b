"""Stage 2: surface tree -> IR. Defaults, naming, blocks, repeats, merges, imports, errors."""

from pathlib import Path

import pytest

import archlang
from archlang.errors import (
    ArchError, ArgumentError, DefinitionError, LimitError, ShapeError, SpecImportError, UnknownNameError,
)

from .conftest import analyse, error_of, shapes


def names(net):
    return [info.name for info in net.layers]


def test_design_card_example_keeps_channels():
    net = analyse("network n : 3x32x32 = conv3x3 * 2 -> maxpool -> conv3x3(16)")
    assert shapes(net) == ["3x32x32", "3x32x32", "3x16x16", "16x16x16"]


def test_conv_defaults_same_padding_and_dilation():
    net = analyse("network n : 3x32x32 = conv5x5(8) -> conv3x3(8, dilation=2) -> conv3x3(8, stride=2) -> conv(8, k=3, pad=0)")
    assert shapes(net) == ["8x32x32", "8x32x32", "8x16x16", "8x14x14"]
    assert net.layers[1].node.op.padding == (2, 2)


def test_kernel_suffixes_and_per_axis_tuples():
    net = analyse("network n : 4x9x9 = conv1x7(8) -> conv7x1(8) -> conv3(8) -> conv(8, k=(1, 3), pad=(0, 1))")
    assert [i.node.op.kernel_size for i in net.layers] == [(1, 7), (7, 1), (3, 3), (1, 3)]
    assert [i.node.op.padding for i in net.layers] == [(0, 3), (3, 0), (1, 1), (0, 1)]
    net = analyse("network n : 3x16x112x112 = conv3x3x3(8) -> maxpool -> conv3(8)")
    assert shapes(net) == ["8x16x112x112", "8x8x56x56", "8x8x56x56"]
    net = analyse("network n : 1x16000 = conv80(8, stride=4, pad=0) -> maxpool4")
    assert shapes(net) == ["8x3981", "8x995"]


@pytest.mark.parametrize("layer", ["conv2x2(4)", "conv(4, k=(3, 4))", "conv4(4, stride=4)"])
def test_even_kernels_need_an_explicit_padding(layer):
    err = error_of(f"network n : 3x8x8 = {layer}")
    assert "even-sized, so it has no centred padding" in err.message and "pad=0" in err.hint
    assert shapes(analyse("network n : 3x8x8 = conv2x2(4, pad=0) -> conv2x2(4, stride=2, pad=1)")) == ["4x7x7", "4x4x4"]


def test_pool_defaults():
    net = analyse("network n : 3x9x9 = maxpool -> avgpool3x3(stride=1, pad=1) -> maxpool3x3(stride=2)")
    assert shapes(net) == ["3x4x4", "3x4x4", "3x1x1"]


def test_naming_rule_reads_like_the_spec():
    text = """
    block unit(c) = conv3x3(c) -> bn -> relu
    block stage(c, n) = unit(c) * n -> maxpool
    network n : 3x32x32 = stage(8, 2) -> stage(16, 1) -> flatten -> fc(10)
    """
    assert names(analyse(text)) == [
        "stage1.unit1.conv1", "stage1.unit1.bn1", "stage1.unit1.relu1",
        "stage1.unit2.conv1", "stage1.unit2.bn1", "stage1.unit2.relu1", "stage1.maxpool1",
        "stage2.unit1.conv1", "stage2.unit1.bn1", "stage2.unit1.relu1", "stage2.maxpool1",
        "flatten1", "fc1",
    ]
    scopes = analyse(text).layers[3].node.scopes
    assert [(s.name, s.label) for s in scopes] == [("stage1", "stage(8, 2)"), ("unit2", "unit(8)")]


@pytest.mark.parametrize("text,expected", [
    # a block named fc1 after ten fc layers: its scope must not be `fc11`, the 11th fc
    ("block fc1(c) = fc(c) -> relu\nnetwork n : 16 = fc(16) * 10 -> fc1(8) -> fc(4)",
     [*(f"fc{i}" for i in range(1, 11)), "fc1_1.fc1", "fc1_1.relu1", "fc11"]),
    # block `a` eleven times, then block `a1`: `a11` and `a1_1` are different instances
    ("block a = relu\nblock a1 = tanh\nnetwork n : 4 = a * 11 -> a1",
     [*(f"a{i}.relu1" for i in range(1, 12)), "a1_1.tanh1"]),
    # a base ending in '_' takes the separator too, so `b_` and `b` never meet
    ("block b_ = relu\nblock b = tanh\nnetwork n : 4 = b_ -> b * 2", ["b__1.relu1", "b1.tanh1", "b2.tanh1"]),
])
def test_names_are_unique_by_construction(text, expected):
    net = analyse(text)
    assert names(net) == expected
    assert len({s.name for n in net.graph.layers for s in n.scopes} | set(names(net))) > 0


def test_verify_rejects_names_that_do_not_form_a_tree():
    from dataclasses import replace

    from archlang.verify import IRError, verify

    graph = analyse("block a = relu\nblock b = tanh\nnetwork n : 4 = a -> b -> relu").graph
    a_relu, b_tanh, relu = graph.layers
    clash = replace(b_tanh, name="a1.tanh1", scopes=(replace(b_tanh.scopes[0], name="a1"),))
    with pytest.raises(IRError, match="two block instances are both named 'a1'"):
        verify(replace(graph, nodes=(graph.input, a_relu, clash, relu)))
    leaf = replace(relu, name="a1")
    with pytest.raises(IRError, match="'a1' names both a layer and a block instance"):
        verify(replace(graph, nodes=(graph.input, a_relu, b_tanh, leaf), outputs=("a1",)))
    stray = replace(relu, name="b1.relu1")
    with pytest.raises(IRError, match="is not the path of its scopes"):
        verify(replace(graph, nodes=(graph.input, a_relu, b_tanh, stray), outputs=("b1.relu1",)))


def test_limits_count_layers_not_the_input_and_are_validated():
    text = "network n : 4 = relu * 100"
    assert len(archlang.parse(text, limits=archlang.Limits(max_nodes=100)).network().layers) == 100
    err = error_of_limits("network n : 4 = relu * 101", archlang.Limits(max_nodes=100))
    assert "more than 100 layers" in err.message
    for bad, kind in ((0, ValueError), (-1, ValueError), (1.5, TypeError), ("9", TypeError)):
        with pytest.raises(kind, match="max_nodes"):
            archlang.Limits(max_nodes=bad)


def error_of_limits(text, limits):
    with pytest.raises(ArchError) as info:
        archlang.parse(text, "t.arch", limits=limits).network()
    return info.value


@pytest.mark.parametrize("text", [
    "network n : 4 = ((identity * 100000) * 100000) * 100000",
    "block d0(f) = f\n" + "".join(f"block d{i}(f) = d{i - 1}(f -> f)\n" for i in range(1, 61))
    + "network n : 4 = d60(relu)",
])
def test_expansion_work_is_bounded_before_any_node_exists(text):
    err = error_of_limits(text, archlang.Limits(max_nodes=1000))  # the same bound, scaled down
    assert isinstance(err, LimitError) and "108,000 steps to expand" in err.message  # 8 x 1,000 + 100,000


def test_block_labels_print_values_not_source_text():
    text = "block s(c, act=relu) = conv3x3(c) -> act\nnetwork n : 3x8x8 = s(\n  4,\n  act=(tanh ->\n relu))"
    (scope,) = analyse(text).layers[0].node.scopes
    assert scope.label == "s(4, act=tanh -> relu)"
    big = "block s(f) = f\nnetwork n : 4 = s(" + " -> ".join(["relu"] * 200) + ")"
    label = analyse(big).layers[0].node.scopes[0].label
    assert label.startswith("s(relu -> relu") and label.endswith("...)") and len(label) < 130


def test_block_instances_have_a_structural_identity():
    text = """block b(c, f=relu) = fc(c) -> f
    network n : 4 = b(4) -> b(
        4) -> b(4, f=relu) -> b(4, tanh) -> b(5)"""
    ids = [n.scopes[0].identity for n in analyse(text).graph.layers[::2]]
    assert ids[0] == ids[1] == ids[2] != ids[3] and ids[0] != ids[4]


def test_repeat_zero_is_identity_and_count_expressions():
    net = analyse("block b(n) = relu * (n - 1) -> tanh\nnetwork x : 3x4x4 = conv3x3 * 0 -> b(3) -> b(1)")
    assert [i.op for i in net.layers] == ["relu", "relu", "tanh", "tanh"]


def test_identity_leaves_no_node_and_layer_parameters():
    text = "block s(norm=identity, act=relu) = conv3x3(4) -> norm -> act\nnetwork a : 3x8x8 = s -> s(norm=bn, act=gelu)"
    assert [i.op for i in analyse(text).layers] == ["conv 3x3, 4", "relu", "conv 3x3, 4", "bn", "gelu"]


def test_block_parameter_holding_a_block_can_be_called():
    text = """
    block basic(c, s=1) = conv3x3(c, stride=s) -> relu
    block layer(unit, c, n, s=2) = unit(c, s) -> unit(c) * (n - 1)
    network x : 3x16x16 = layer(basic, 8, 3)
    """
    assert shapes(analyse(text)) == ["8x8x8", "8x8x8"] * 3


def test_defaults_may_use_earlier_parameters():
    net = analyse("block b(c, d=2*c) = conv1x1(c) -> conv1x1(d)\nnetwork x : 3x4x4 = b(5)")
    assert shapes(net) == ["5x4x4", "10x4x4"]


def test_arithmetic_in_arguments():
    net = analyse("block b(c) = fc(4*c) -> fc(c//2) -> fc(c - 1) -> fc(2**c) -> fc(c % 3 + 1)\nnetwork x : 7 = b(6)")
    assert shapes(net) == ["24", "3", "5", "64", "1"]


def test_merges():
    net = analyse("network x : 3x8x8 = concat(conv1x1(4) | conv3x3(6) | maxpool3x3(stride=1, pad=1))")
    assert net.output_shape == (13, 8, 8)
    assert net.layers[-1].node.inputs == ("conv1", "conv2", "maxpool1")
    net = analyse("network x : 4x8x8 = add(conv3x3 -> relu | identity)")
    assert net.layers[-1].node.inputs == ("relu1", "input")


def test_residual_shortcut_rule():
    same = analyse("network x : 8x8x8 = residual(conv3x3 -> bn)")
    assert same.layers[-1].node.inputs == ("bn1", "input")
    proj = analyse("network x : 8x8x8 = residual(conv3x3(16, stride=2) -> bn)")
    assert names(proj) == ["conv1", "bn1", "shortcut1.conv1", "shortcut1.bn1", "add1"]
    conv = proj.layers[2].node.op
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias, conv.out_channels) == ((1, 1), (2, 2), (0, 0), False, 16)
    odd = analyse("network x : 8x7x7 = residual(conv3x3(8, stride=2))")  # 7 -> 4 on both paths
    assert odd.output_shape == (8, 4, 4)
    given = analyse("network x : 8x8x8 = residual(conv3x3(16), shortcut=conv1x1(16))")
    assert names(given) == ["conv1", "shortcut1.conv1", "add1"]


def test_imports(tmp_path):
    (tmp_path / "blocks.arch").write_text("block unit(c) = conv3x3(c) -> relu\nnetwork small : 3x8x8 = unit(4)\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.arch").write_text('use "../blocks.arch"\nnetwork big : 3x8x8 = unit(8) * 2\n')
    program = archlang.load(tmp_path / "sub" / "net.arch")
    assert program.networks == ("big",)
    assert program.network("big").output_shape == (8, 8, 8)
    assert program.network("small").output_shape == (4, 8, 8)


def test_import_cycle_and_missing_file(tmp_path):
    (tmp_path / "a.arch").write_text('use "b.arch"\n')
    (tmp_path / "b.arch").write_text('use "a.arch"\n')
    with pytest.raises(SpecImportError, match=r"import cycle: a.arch -> b.arch -> a.arch"):
        archlang.load(tmp_path / "a.arch")
    (tmp_path / "c.arch").write_text('use "nope.arch"\n')
    with pytest.raises(SpecImportError, match="no such file: nope.arch") as info:
        archlang.load(tmp_path / "c.arch")
    assert (info.value.span.line, info.value.span.col) == (1, 1)
    (tmp_path / "d.arch").write_text('use "notes.txt"\n')
    with pytest.raises(SpecImportError, match="only .arch files"):
        archlang.load(tmp_path / "d.arch")


@pytest.mark.parametrize(
    "text,kind,message,hint",
    [
        ("network n : 3x8x8 = rleu", UnknownNameError, "unknown layer or block 'rleu'", "did you mean 'relu'?"),
        ("block stage(c) = relu\nnetwork n : 3x8x8 = stgae(3)", UnknownNameError, "'stgae'", "'stage'"),
        ("network n : 3x8x8 = conv3x3(8, strides=2)", ArgumentError, "no argument 'strides'", "'stride'"),
        ("network n : 3x8x8 = conv3x3(8, bias=1)", ArgumentError, "'bias' must be true or false, got 1", None),
        ("network n : 3x8x8 = conv3x3(0)", ArgumentError, "'c' must be a positive integer, got 0", None),
        ("network n : 3x8x8 = conv3x3(2.5)", ArgumentError, "'c' must be a positive integer, got 2.5", None),
        ("network n : 3x8x8 = conv3x3(relu)", ArgumentError, "got the layer 'relu'", None),
        ("network n : 3x8x8 = conv(8)", ArgumentError, "conv needs a kernel size", "conv3x3"),
        ("network n : 3x8x8 = conv3x3(8, 3)", ArgumentError, "kernel size is given twice", None),
        ("network n : 3x8x8 = flatten -> fc", ArgumentError, "fc needs the argument 'c'", None),
        ("network n : 3x8x8 = relu(3)", ArgumentError, "relu takes no arguments", None),
        ("block s(c, n) = relu\nnetwork n : 3x8x8 = s(8)", ArgumentError, "block s needs the argument 'n'", None),
        ("block s(c) = relu\nnetwork n : 3x8x8 = s(8, 2)", ArgumentError, "takes 1 argument (c), got 2", None),
        ("network n : 1x16000 = conv3x3(8)", ShapeError, "'conv3x3' is a 2D kernel, but the input 1x16000 has 1 spatial axis", "conv3"),
        ("network n : 3x8x8 = conv(8, k=(1, 2, 3))", ShapeError, "'k' has 3 values but the input has 2 spatial axes", None),
        ("network n : 3x8x8 = conv3x3 -> fc(10)", ShapeError, "fc needs a flat input, but this input is 3x8x8", "add 'flatten'"),
        ("network n : 3x8x8 = flatten -> conv3x3", ShapeError, "conv needs an input with spatial axes", None),
        ("network n : 3x8x8 = conv3x3(8) * -1", ArgumentError, "negative repeat count -1", None),
        ("network n : 3x8x8 = conv3x3(8) * 1.5", ArgumentError, "repeat count must be an integer", None),
        ("network n : 3x8x8 = 2 * relu", ArgumentError, "repeat count goes after the layer", "relu * 2"),
        ("network n : 3x8x8 = relu | tanh", ArgumentError, "'|' separates the branches", None),
        ("network n : 3x8x8 = add(relu)", ArgumentError, "add needs at least two branches, separated by '|'", None),
        ("network n : 3x8x8 = add(relu, tanh)", ArgumentError, "add takes its branches separated by '|', not ','", None),
        ("network n : 3x8x8 = add(relu | tanh, x=1)", ArgumentError, "add takes no keyword arguments", "drop 'x=...'"),
        ("block b(add=relu) = add(relu | tanh)", DefinitionError, "the parameter 'add' would hide the built-in add",
         "another name"),
        ("network n : 3x8x8 = conv3x3(relu | tanh)", ArgumentError, "'conv3x3' takes none", "only merges"),
        ("network n : 3x8x8 = leakyrelu(1e308)", ArgumentError, "within float32's range", None),
        ("network n : 3x8x8 = lrn(alpha=-1e39)", ArgumentError, "within float32's range", None),
        ("network n : 3x8x8 = fc(1 // 0)", ArgumentError, "division by zero", None),
        ("block a = b\nblock b = relu -> a\nnetwork n : 3x8x8 = a", DefinitionError, "block 'a' calls itself: a -> b -> a", "recursive"),
        ("block relu = tanh", DefinitionError, "'relu' is a built-in layer", None),
        ("block a = relu\nnetwork a : 3 = relu", DefinitionError, "'a' is defined twice", None),
        ("network n : 3x8x8 = maxpool3x3(pad=2)", ArgumentError, "more than half the window", None),
        ("network n : 3x8x8 = conv3x3(8, groups=3)", ArgumentError, "groups=3 must divide", None),
        ("network n : 3x8x8 = lrn(4)", ArgumentError, "window size must be odd", None),
        ("network n : 8 = lrn", ShapeError, "lrn needs an input with spatial axes", None),
        ("network n : 3x8x8 = groupnorm(2)", ArgumentError, "2 groups do not divide the 3 channels", None),
        ("network n : 3x8x8 = conv3x3(10**30)", LimitError, "too large", None),
        ("network n : 3x8x8 = fc(2**70)", LimitError, "too large", None),
        ("network n : 3x8x8x8x8 = relu", ShapeError, "4 spatial axes", None),
        ("network m : 3x8x8 = relu\nnetwork n : 3x8x8 = m", DefinitionError, "'m' is a network", "block"),
    ],
)
def test_errors(text, kind, message, hint):
    err = error_of(text)
    assert type(err) is kind, err.render()
    assert message in err.message, err.render()
    if hint:
        assert hint in err.hint
    assert err.span is not None and err.span.line >= 1


def test_kernel_too_large_shows_the_formula():
    text = "network lenet : 1x32x32 =\n    conv5x5(6, pad=0) -> maxpool -> conv5x5(16, pad=0) -> maxpool\n    -> conv5x5(16, pad=0) -> conv5x5(16, pad=0)\n"
    err = error_of(text, "lenet.arch")
    assert err.render() == (
        "lenet.arch:3:30: error: spatial size becomes -3 after conv5x5\n"
        "        -> conv5x5(16, pad=0) -> conv5x5(16, pad=0)\n"
        "                                 ^^^^^^^^^^^^^^^^^^\n"
        "  O = (I + 2P - K)/S + 1 = (1 + 0 - 5)/1 + 1 = -3\n"
        "  hint: the input here is 16x1x1; the kernel (5) is larger than the padded input (1); "
        "use a smaller kernel, add padding, or drop a pooling layer before it"
    )


def test_strided_and_dilated_formula():
    err = error_of("network n : 1x4x4 = conv3x3(2, stride=2, dilation=3, pad=0)")
    assert err.detail == [
        "O = floor((I + 2P - K')/S) + 1 = floor((4 + 0 - 7)/2) + 1 = -1",
        "K' = D(K - 1) + 1 = 3(3 - 1) + 1 = 7 (dilated kernel)",
    ]


def test_add_mismatch_points_at_both_branches():
    err = error_of("network n : 3x32x32 = add(conv3x3(8) | conv3x3(16, stride=2))")
    assert "branch 2 gives 16x16x16 but branch 1 gives 8x32x32" in err.message
    assert err.span.col == 40
    assert err.notes[0].span.col == 27 and "8x32x32" in err.notes[0].message


def test_errors_inside_blocks_name_the_call_site():
    err = error_of("block b(c) = conv3x3(c) -> fc(3)\nnetwork n : 3x8x8 = relu -> b(4)")
    assert err.span.line == 1
    assert err.notes[-1].span.line == 2 and "in b(4)" in err.notes[-1].message


def test_node_limit_is_an_error_and_can_be_raised():
    text = "network n : 3 = relu * 200"
    with pytest.raises(LimitError, match="more than 100 layers"):
        archlang.parse(text, limits=archlang.Limits(max_nodes=100)).network("n")
    assert len(archlang.parse(text).network("n").layers) == 200


@pytest.mark.parametrize(
    "text,message",
    [
        ("network n : 3 = relu * 10**9", "repeat count 1,000,000,000 is over the limit of 100,000"),
        ("network n : 3 = " + "(" * 65 + "relu" + ")" * 65, "parentheses nested more than 64 deep"),
        ("network n : 3 = fc(" + "+".join(["1"] * 300) + ")", "more than 256 operators"),
        ("network n : 3 = fc(" + "-" * 2000 + "1)", "nested too deeply"),
        ("network n : 2147483647x2147483647x2147483647 = relu", "more than a 64-bit size can count"),
        ("network n : 3x2097152x2097152x2097152 = relu", "more than a 64-bit size can count"),
        ("network n : 3 = fc(2147483648)", "larger than the largest supported size 2,147,483,647"),
        ("network n : 3 = fc(10**30)", "the number is too large"),
        ("network n : 3 = fc(99999999999999999999)", "is too large"),
        ("".join(f"block b{i} = b{i + 1}\n" for i in range(70)) + "block b70 = relu\nnetwork n : 3 = b0",
         "blocks are nested more than 64 deep"),
    ],
    ids=["repeat", "parens", "operators", "unary", "input-int64", "input-int64-3d", "size", "power", "literal",
         "block-depth"],
)
def test_limits(text, message):
    err = error_of(text)
    assert isinstance(err, (LimitError, ArgumentError)), err.render()
    assert message in err.message, err.render()
    assert err.span is not None and 1 <= err.span.line <= text.count("\n") + 1


GOLDEN_IR = Path(__file__).parent / "golden" / "ir"
IR_CASES = {
    "lenet5": None,
    "resnet18": None,
    "branches": "block bc(c) = conv1x1(c, bias=false) -> bn\n"
                "block fire(s, e) = conv1x1(s) -> relu -> concat(conv1x1(e) -> relu | conv3x3(e) -> relu)\n"
                "network branches : 3x16x16 = fire(4, 8) * 2 -> residual(bc(16) -> relu -> bc(32, ), "
                "shortcut=bc(32)) -> add(maxpool | avgpool) -> globalavgpool -> flatten -> fc(10)",
}


@pytest.mark.parametrize("case", list(IR_CASES))
def test_lowering_matches_the_golden_ir(case):
    """The textual IR (`archlang check --emit ir`) of a few networks, kept as golden files so
    that any change to lowering shows as a diff. ARCHLANG_UPDATE_GOLDEN=1 rewrites them."""
    import os

    text = IR_CASES[case]
    graph = (archlang.load(case) if text is None else archlang.parse(text, "branches.arch")).network().graph
    path = GOLDEN_IR / f"{case}.ir"
    if os.environ.get("ARCHLANG_UPDATE_GOLDEN"):
        path.write_text(graph.text())
    assert graph.text() == path.read_text()


def test_a_block_passed_to_itself_is_not_recursion_but_a_default_naming_it_is():
    net = analyse("block wrap(inner=identity) = relu -> inner -> tanh\nnetwork n : 4 = wrap(wrap(wrap))")
    assert [n.name for n in net.graph.layers] == ["wrap1.relu1", "wrap1.wrap1.relu1", "wrap1.wrap1.wrap1.relu1",
                                                   "wrap1.wrap1.wrap1.tanh1", "wrap1.wrap1.tanh1", "wrap1.tanh1"]
    err = error_of("block a(f=a) = relu -> f\nnetwork n : 4 = a")
    assert isinstance(err, DefinitionError) and "block 'a' calls itself: a -> a" in err.message
