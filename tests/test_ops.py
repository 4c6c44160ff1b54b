"""The op registry, op by op: every op's shape rule and parameter count must equal those
of the real torch module (torch is the oracle), in 1D, 2D and 3D where the op applies, and
the built module must compute what a hand-written torch module for the layer *as written*
computes (so a wrong default in an op's `make` fails here).

The torch modules here are written by hand from torch's documentation, independently of
archlang's own backends, so that the two can disagree.
"""


import pytest
import torch

from archlang.ops import canonical_ops

from .conftest import analyse, error_of
import archlang

from .torch_oracle import execute, from_spec

# op -> (layer text, input shape) cases
CASES = {
    "conv": [("conv3x3(8)", "3x16x16"), ("conv5(4, stride=2, pad=1, dilation=2)", "2x21"),
             ("conv3x3x3(4, groups=2, bias=false)", "4x6x9x9"), ("conv(6, k=(1, 7), stride=(1, 2))", "3x5x20"),
             ("conv1x1(16, pad=0)", "8x7x7")],
    "dwconv": [("dwconv3x3(stride=2)", "4x9x9"), ("dwconv5(8, pad=1, dilation=2)", "4x16"),
               ("dwconv3x3x3(bias=false)", "2x4x6x6"), ("dwconv(6, k=(1, 3))", "3x5x5")],
    "convtranspose": [("convtranspose2x2(4, stride=2)", "3x5x5"), ("deconv3(2, stride=2, pad=1, output_padding=1)", "4x7"),
                      ("convtranspose3x3x3(4, stride=2, groups=2, bias=false)", "2x3x4x4"),
                      ("convtranspose(4, k=(3, 4), stride=(2, 3), pad=(1, 0), output_padding=(1, 2), dilation=(1, 2))",
                       "3x4x5"),
                      ("deconv4x4(3, stride=2, pad=1)", "2x6x6"),
                      # output_padding reaching the dilation, past the stride: ONNX pads the rest
                      ("convtranspose3(2, dilation=3, output_padding=2)", "2x4"),
                      ("convtranspose3x3(2, stride=(1, 2), dilation=(3, 1), output_padding=(1, 1), bias=false)", "2x3x3")],
    "upsample": [("upsample(2)", "3x4x4"), ("upsample(3, linear=true)", "2x5"), ("upsample((1, 2, 2), linear=true)", "2x3x4x4"),
                 ("upsample(size=(7, 5), linear=true, align_corners=true)", "2x4x3"), ("upsample(size=9)", "2x4x4"),
                 ("upsample(size=3, linear=true)", "2x7"), ("upsample((2, 3))", "2x3x2"), ("upsample(2)", "2x3x3x3")],
    "maxpool": [("maxpool", "3x9x9"), ("maxpool3(stride=2, pad=1)", "2x17"), ("maxpool2x2x2", "2x4x6x6"),
                ("maxpool3x3(stride=2)", "4x13x13"), ("maxpool3x3(stride=2, ceil_mode=true)", "2x8x8"),
                ("maxpool3(stride=2, pad=1, ceil_mode=true)", "2x10"), ("maxpool(ceil_mode=true)", "2x3x5x5"),
                ("maxpool(k=2, stride=3, pad=1, ceil_mode=true)", "2x4")],  # a last window past the padding: dropped
    "avgpool": [("avgpool", "3x9x9"), ("avgpool3(stride=1, pad=1)", "2x10"), ("avgpool(k=(1, 2))", "2x4x6"),
                ("avgpool2x2x2", "2x4x6x6"), ("avgpool3x3(stride=2, ceil_mode=true)", "2x8x8"),
                ("avgpool3(stride=2, pad=1, count_include_pad=false)", "2x10"),
                ("avgpool3x3(stride=2, pad=1, ceil_mode=true, count_include_pad=false)", "2x6x6"),
                ("avgpool3(stride=2, pad=1, ceil_mode=true)", "2x6"), ("avgpool(k=2, stride=3, pad=1, ceil_mode=true)", "2x7")],
    "globalavgpool": [("globalavgpool", "3x9x9"), ("globalavgpool", "2x10"), ("globalavgpool", "2x3x4x5")],
    "globalmaxpool": [("globalmaxpool", "3x9x9"), ("globalmaxpool", "2x10"), ("globalmaxpool", "2x3x4x5")],
    "adaptiveavgpool": [("adaptiveavgpool(7)", "3x14x14"), ("adaptiveavgpool(3)", "2x10"),
                        ("adaptiveavgpool((2, 3))", "2x7x9"), ("adaptiveavgpool(2)", "2x4x5x6")],
    "fc": [("fc(10)", "20"), ("linear(7, bias=false)", "12")],
    "flatten": [("flatten", "3x4x5"), ("flatten", "2x9"), ("flatten", "6")],
    "relu": [("relu", "3x4x4")], "relu6": [("relu6", "3x4")], "leakyrelu": [("leakyrelu(0.2)", "3x4x4")],
    "elu": [("elu(0.5)", "3x4")], "gelu": [("gelu", "3x4x4x4")], "silu": [("silu", "8")],
    "sigmoid": [("sigmoid", "3x4x4")], "tanh": [("tanh", "5")], "softmax": [("softmax", "10"), ("softmax", "3x4x4")],
    "logsoftmax": [("logsoftmax", "10"), ("logsoftmax", "3x5")],
    "hardswish": [("hardswish", "3x4x4"), ("conv3(4) -> hardswish", "2x9")], "hardsigmoid": [("hardsigmoid", "5")],
    "identity": [("identity", "3x4x4")],
    "dropout": [("dropout(0.3)", "3x4x4"), ("dropout", "16")],
    "bn": [("bn", "8"), ("bn", "4x10"), ("bn", "4x6x6"), ("bn", "4x3x6x6")],
    "lrn": [("lrn", "8x6x6"), ("lrn(3, alpha=0.001, beta=0.5, k=1)", "6x10"), ("lrn(3)", "4x3x5x5")],
    "layernorm": [("layernorm", "16"), ("layernorm", "4x5x6")],
    "groupnorm": [("groupnorm(2)", "8x5x5"), ("groupnorm(4)", "8x10"), ("groupnorm(1)", "4x2x3x3")],
    "layernorm2d": [("layernorm2d", "4x5x6"), ("layernorm2d(eps=1e-6)", "4x7"), ("layernorm2d", "3x2x3x4"),
                    ("layernorm2d", "6")],
    "layerscale": [("layerscale", "4x5x5"), ("layerscale(0.5)", "3x7"), ("layerscale(-0.1)", "2x2x3x3"),
                   ("layerscale", "5")],
    "stochasticdepth": [("stochasticdepth(0.2)", "3x4x4"), ("stochasticdepth(0.5, batch=true)", "8")],
    "add": [("add(conv3x3 | identity)", "4x6x6"), ("add(fc(8) | fc(8) | fc(8))", "5")],
    "concat": [("concat(conv3x3(2) | identity | maxpool3x3(stride=1, pad=1))", "4x6x6"), ("concat(fc(3) | fc(4))", "5")],
    "mul": [("mul(identity | globalavgpool -> conv1x1 -> sigmoid)", "4x5x5"), ("mul(fc(6) | fc(6) -> sigmoid)", "5"),
            ("mul(conv3(1) | identity | identity)", "3x7")],
    "crop": [("crop(3)", "2x6x6"), ("crop((2, 5))", "3x5x7"), ("crop(4)", "2x7"), ("crop(2)", "1x5x4x3")],
    "slice": [("slice(1, 3)", "4x5x5"), ("slice(0, 2)", "6"), ("slice(2, 6)", "6x3x4x5")],
    "shuffle": [("shuffle(2)", "6x3x3"), ("shuffle(3)", "6x4"), ("shuffle(2)", "4x2x3x3")],
    "tokens": [("tokens", "4x3x5"), ("tokens", "3x6"), ("conv(8, k=2, stride=2, pad=0) -> tokens", "3x4x2x6")],
    "grid": [("grid(3, 2)", "[6]x4"), ("tokens -> grid(3)", "2x3x3")],
    "embed": [("embed(11, 6)", "[7]"), ("embed(5, 4) -> fc(3)", "[2]")],
    "posembed": [("posembed", "[5]x4"), ("posembed(9)", "[5]x4")],
    "clstoken": [("clstoken", "[5]x4"), ("clstoken -> posembed", "[1]x3")],
    "attention": [("attention(2)", "[5]x8"), ("attention(4, causal=true)", "[6]x8"),
                  ("attention(1, bias=false)", "[3]x4"), ("attention(2, dropout=0.1)", "[4]x6"),
                  ("attention(2, separate=true)", "[5]x8"), ("attention(2, separate=true, bias=false, causal=true)", "[4]x6")],
    "token": [("token", "[5]x4"), ("token(4)", "[5]x4")],
    "meantokens": [("meantokens", "[5]x4")],
    "lstm": [("lstm(6)", "[5]x3"), ("lstm(4, layers=2, bidirectional=true)", "[6]x3"),
             ("lstm(5, last=true)", "[4]x2"), ("lstm(3, bidirectional=true, last=true)", "[4]x2"),
             ("embed(7, 4) -> lstm(4, layers=2, last=true)", "[6]")],
    "gru": [("gru(6)", "[5]x3"), ("gru(4, layers=2, bidirectional=true)", "[6]x3"),
            ("gru(3, layers=3, bidirectional=true, last=true)", "[4]x2")],
}

# the ops that work per token, on sequences too
CASES["fc"] += [("fc(6)", "[5]x4"), ("fc(3, bias=false)", "[2]x7")]
CASES["layernorm"] += [("layernorm", "[5]x4")]
CASES["gelu"] += [("gelu", "[3]x4"), ("gelu(tanh=true)", "[3]x4")]
CASES["softmax"] += [("softmax", "[3]x5")]
CASES["add"] += [("add(attention(2) | identity)", "[4]x6")]
CASES["mul"] += [("mul(fc(6) | fc(6) -> sigmoid)", "[4]x6")]
CASES["dropout"] += [("dropout(0.1)", "[3]x4")]
CASES["flatten"] += [("flatten", "[3]x4")]


def example(net, batch: int = 2) -> torch.Tensor:
    """An input for the network: random values, or random token indices below 5 (every
    vocabulary in CASES is at least 5)."""
    (_, t), = net.inputs
    return torch.randint(0, 5, (batch, *t.shape)) if t.ids else torch.randn(batch, *t.shape)


def test_every_op_has_cases():
    assert {op.name for op in canonical_ops()} == set(CASES)


ALL_CASES = [
    pytest.param(text, shape, id=f"{name}:{text}@{shape}")
    for name, cases in CASES.items() for text, shape in cases
]


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_shape_and_params_match_torch(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    values, modules = execute(net.graph, example(net))
    for node in net.graph.layers:
        assert tuple(values[node.name].shape[1:]) == node.type.shape, node.name
        if node.name in modules:
            assert sum(p.numel() for p in modules[node.name].parameters()) == node.op.param_count(), node.name
    assert sum(p.numel() for m in modules.values() for p in m.parameters()) == net.total_params


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_built_module_computes_what_the_spec_says(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    built = archlang.build(net, seed=0).eval()
    oracle = from_spec(text, shape).eval()
    archlang.load_weights(oracle, built)
    x = example(net)
    with torch.no_grad():
        assert torch.allclose(built(x), oracle(x), atol=1e-6)


# -- the new ops' own rules, beyond what the registry-wide tests above check


@pytest.mark.parametrize("text,message,arg", [
    ("dwconv3x3(6)", "must be a multiple of the input channels (4)", "6"),
    ("convtranspose3x3(stride=2, output_padding=2)", "output_padding 2 must be smaller than the stride (2) or the dilation (1)",
     "output_padding=2"),
    ("convtranspose3x3(pad=9)", "spatial size becomes", "pad=9"),
    ("convtranspose(8)", "convtranspose needs a kernel size", None),
    ("upsample(2, size=4)", "takes one of scale, size and like=, not scale and size", "size=4"),
    ("upsample", "takes one of scale, size and like=", None),
    ("conv3x3(4, stride=2) as a -> upsample(like=a, size=4)", "not size and like", "like=a"),
    ("upsample(2, align_corners=true)", "align_corners applies to linear interpolation only", "align_corners=true"),
    ("upsample((2, 2, 2))", "'scale' has 3 values but the input has 2 spatial axes", "(2, 2, 2)"),
    ("maxpool3x3(ceil_mode=1)", "argument 'ceil_mode' must be true or false", "ceil_mode=1"),
    ("stochasticdepth", "stochasticdepth needs the argument 'p'", None),
    ("stochasticdepth(1.5)", "must be a probability", "1.5"),
])
def test_new_ops_point_at_the_argument_at_fault(text, message, arg):
    spec = f"network n : 4x8x8 = {text}"
    err = error_of(spec)
    assert message in err.message, err.render()
    assert err.hint or err.detail or "must be" in err.message, err.render()
    caret = spec[err.span.col - 1:err.span.end_col - 1]
    assert caret == (arg if arg is not None else text), err.render()


def test_convtranspose_output_padding_may_reach_the_dilation_instead():
    assert analyse("network n : 2x5 = convtranspose3(stride=1, dilation=3, output_padding=2)").output_shape == (2, 5 + 6 + 2)


def test_dwconv_is_conv_with_one_group_per_channel():
    net = analyse("network n : 4x9x9 = dwconv3x3(8, stride=2) -> conv3x3(8, stride=2, groups=8)")
    dw, conv = (n.op for n in net.graph.layers)
    assert (dw.groups, dw.out_channels, dw.param_count(), dw.label()) == (4, 8, 8 * 9 + 8, "dwconv 3x3 /2, 8")
    assert conv.groups == 8 and "groups 8" in conv.label()


def test_stochastic_depth_drops_whole_samples_while_training_only():
    net = analyse("network n : 3x4x4 = stochasticdepth(0.5)")
    module = archlang.build(net, seed=0)
    x = torch.ones(256, 3, 4, 4)
    torch.manual_seed(0)
    y = module.train()(x)
    per_sample = y.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 2).all(1)).all()  # kept rows scaled by 1/(1 - p)
    assert 0.35 < (per_sample[:, 0] == 0).float().mean() < 0.65
    assert torch.equal(module.eval()(x), x)
    batch = archlang.build(analyse("network n : 8 = stochasticdepth(0.5, batch=true)")).train()
    outs = {float(batch(torch.ones(4, 8)).unique().item()) for _ in range(40)}  # all zero or all two
    assert outs == {0.0, 2.0}
    keep = archlang.build(analyse("network n : 8 = stochasticdepth(0)")).train()
    assert torch.equal(keep(torch.ones(4, 8)), torch.ones(4, 8))


def test_stochastic_depth_in_generated_source_draws_as_the_built_module():
    from archlang.backends.python_source import python_source

    for text in ("stochasticdepth(0.3)", "stochasticdepth(0.3, batch=true)", "stochasticdepth(1)"):
        net = analyse(f"network n : 3x4x4 = conv3x3 -> {text}")
        namespace: dict = {}
        exec(python_source([net.graph], "t.arch"), namespace)  # the generated file, as a user runs it
        source, built = namespace["N"](), archlang.build(net, seed=0)
        source.load_state_dict(built.state_dict())
        x = torch.randn(16, 3, 4, 4)
        for mode in (True, False):
            source.train(mode), built.train(mode)
            torch.manual_seed(1)
            a = source(x)
            torch.manual_seed(1)
            assert torch.equal(a, built(x)), (text, mode)


@pytest.mark.parametrize("text,shape", [case for case in ALL_CASES if case.id.split(":")[0] in
                                        ("upsample", "convtranspose", "maxpool", "avgpool")])
def test_resampling_and_ceil_mode_shapes_follow_the_documented_formulas(text, shape):
    """The formulas of docs/language.md with the numbers, against archlang's shapes (torch
    agrees with both through the registry-wide test above)."""
    import math

    net = analyse(f"network n : {shape} = {text}")
    (node,) = net.graph.layers
    op, (i_sizes, o_sizes) = node.op, (net.input_shape[1:], net.output_shape[1:])
    for axis, (i, o) in enumerate(zip(i_sizes, o_sizes)):
        if op.name == "convtranspose":
            k, s, p, d, q = (v[axis] for v in (op.kernel_size, op.stride, op.padding, op.dilation, op.output_padding))
            assert o == (i - 1) * s - 2 * p + d * (k - 1) + q + 1
        elif op.name == "upsample":
            assert o == (i * op.scale[axis] if op.scale else op.output_size[axis])
        elif op.ceil_mode:
            k, s, p = op.kernel_size[axis], op.stride[axis], op.padding[axis]
            expected = math.ceil((i + 2 * p - k) / s) + 1
            expected -= (expected - 1) * s >= i + p
            assert o == expected


def test_own_module_classes_are_standalone_source():
    """archlang's own classes (ops/modules.py), as `torch_class_source` gives them to generated
    files: run with nothing but torch and nn in scope, they build the same state and compute
    the same as the classes `torch_class` resolves."""
    from torch import nn

    from archlang.ops import modules
    from archlang.ops.base import own_torch_classes, torch_class, torch_class_source

    assert own_torch_classes() == set(modules.__all__)
    assert torch_class("Conv2d") is nn.Conv2d and torch_class_source("Conv2d") is None
    built = {"LayerNorm2d": ((6,), {"eps": 1e-6}), "LayerScale": ((6, 2), {"init_value": 0.5}),
             "SelfAttention": ((4, 2), {"causal": True}), "PositionEmbedding": ((5, 4), {}), "ClassToken": ((4,), {}),
             "SelfAttention(separate)": ((4, 2), {"separate": True}),
             "SequenceLSTM": ((4, 3), {"num_layers": 2, "bidirectional": True, "last": True}),
             "SequenceGRU": ((4, 3), {})}
    inputs = {"SelfAttention": (2, 3, 4), "SelfAttention(separate)": (2, 3, 4), "PositionEmbedding": (2, 3, 4),
              "ClassToken": (2, 3, 4),
              "SequenceLSTM": (2, 3, 4), "SequenceGRU": (2, 3, 4)}
    assert {name.partition("(")[0] for name in built} == own_torch_classes()
    for name, (args, kwargs) in built.items():
        cls = name.partition("(")[0]
        namespace = {"torch": torch, "nn": nn}
        exec(torch_class_source(cls), namespace)
        real, copied = torch_class(cls)(*args, **kwargs), namespace[cls](*args, **kwargs)
        assert real.state_dict().keys() == copied.state_dict().keys()
        with torch.no_grad():
            for t in real.state_dict().values():
                t.uniform_(-1, 1)
        copied.load_state_dict(real.state_dict())
        x = torch.randn(*inputs.get(name, (2, 6, 3, 4)))
        assert torch.equal(real(x), copied(x)), name


def test_layer_scale_starts_at_its_argument():
    """Its one rule depends on the layer (`init_rules`); the module's constructor agrees."""
    from archlang.ops.base import torch_class

    net = analyse("network n : 4x3x3 = layerscale(0.25) -> layerscale")
    first, second = (node.op for node in net.graph.layers)
    assert [(r.rule, r.value) for r in first.init_rules()] == [("constant", 0.25)]
    assert [(r.rule, r.value) for r in second.init_rules()] == [("constant", 1e-6)]
    cls, args, kwargs = first.torch_spec(())
    assert (torch_class(cls)(*args, **kwargs).weight == 0.25).all()
    assert first.tensors()[0].shape == (4, 1, 1) and first.param_count() == 4
