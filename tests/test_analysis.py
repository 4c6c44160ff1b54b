"""Stage 4: analyses. Published figures for the bundled networks, torch as an oracle for
shapes, parameters and MACs, and gradients as an oracle for receptive fields."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import archlang

from .conftest import BUNDLED, analyse, shapes
from .torch_oracle import execute

PARAMS = {
    "lenet5": 61_706, "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736, "vgg16_c": 133_638_952, "vgg16": 138_357_544, "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240, "vgg19_bn": 143_678_248, "resnet18": 11_689_512, "resnet34": 21_797_672,
    "resnet50": 25_557_032, "resnet101": 44_549_160, "resnet152": 60_192_808,
    "vgg11_lrn": 132_863_336, "mlp": 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10,
    "alexnet": 61_100_840, "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240, "r3d_18": 33_371_472, "mc3_18": 11_695_440,
    "m5": 26_915,  # as PyTorch's audio classification tutorial counts it
    "fcn_resnet50": 32_957_013, "deeplabv3_resnet50": 39_638_869,
    "mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
    "shufflenet_v2_x0_5": 1_366_792, "shufflenet_v2_x1_0": 2_278_604, "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
    "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b3": 12_233_232,
    "efficientnet_b7": 66_347_960,
    "convnext_tiny": 28_589_128, "convnext_small": 50_223_688, "convnext_base": 88_591_464,
    "densenet121": 7_978_856, "densenet169": 14_149_480, "densenet201": 20_013_928, "densenet161": 28_681_000,
    "squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496, "googlenet": 6_624_904,
    "inception_v3": 23_834_568,
    "unet": 31_030_658, "unet_bn": 31_036_546,  # Ronneberger et al.'s U-Net; unet_bn padded, with batch norm
    "vit_b_16": 86_567_656, "vit_b_32": 88_224_232, "vit_l_16": 304_326_632,
    "gpt2": 124_439_808,  # the output layer tied to the token embedding: its weight counted once
    "lstm_forecaster": 52_744, "gru_classifier": 2_758_658,  # derived in specs/recurrent.arch
    "bert_base": 109_482_240,
}

# torchvision's published GFLOPS (really GMACs), as printed in its model table
GMACS = {
    "vgg11": "7.609", "vgg13": "11.308", "vgg16": "15.47", "vgg19": "19.632",
    "resnet18": "1.814", "resnet34": "3.664", "resnet50": "4.089", "resnet101": "7.801", "resnet152": "11.514",
    "alexnet": "0.714", "resnext50_32x4d": "4.23", "resnext101_32x8d": "16.414", "wide_resnet50_2": "11.398",
    "r3d_18": "40.697", "mc3_18": "43.343",
    "mobilenet_v2": "0.301", "mobilenet_v3_large": "0.217", "mobilenet_v3_small": "0.057",
    "shufflenet_v2_x0_5": "0.04", "shufflenet_v2_x1_0": "0.145", "shufflenet_v2_x1_5": "0.296",
    "shufflenet_v2_x2_0": "0.583",
    "efficientnet_b0": "0.386", "efficientnet_b1": "0.687", "efficientnet_b3": "1.827",
    "efficientnet_b7": "37.746",
    "convnext_tiny": "4.456", "convnext_small": "8.684", "convnext_base": "15.355",
    "densenet121": "2.834", "densenet169": "3.36", "densenet201": "4.29", "densenet161": "7.728",
    "squeezenet1_0": "0.819", "squeezenet1_1": "0.349", "googlenet": "1.498",
    "inception_v3": "5.713",
    "vit_b_16": "17.564", "vit_b_32": "4.409", "vit_l_16": "61.555",  # attention's two L x L matmuls counted
}
for _plain in ("vgg11", "vgg13", "vgg16", "vgg19"):
    GMACS[_plain + "_bn"] = GMACS[_plain]


def test_every_bundled_network_has_published_figures():
    assert set(PARAMS) == set(BUNDLED)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_total_params(name):
    assert archlang.load(name).network().total_params == PARAMS[name]


@pytest.mark.parametrize("name", sorted(GMACS))
def test_total_macs_match_torchvision_gflops(name):
    printed = GMACS[name]
    decimals = len(printed.split(".")[1])
    assert f"{archlang.load(name).network().total_macs / 1e9:.{decimals}f}" == printed


def test_lenet5_shapes():
    assert shapes(archlang.load("lenet5").network()) == [
        "6x28x28", "6x28x28", "6x14x14", "16x10x10", "16x10x10", "16x5x5", "400", "120", "120", "84", "84", "10"
    ]
    kept = [s for s, info in zip(shapes(archlang.load("lenet5").network()), archlang.load("lenet5").network().layers)
            if info.family != "activation"]
    assert kept == ["6x28x28", "6x14x14", "16x10x10", "16x5x5", "400", "120", "84", "10"]


def test_rows_described_without_layer_objects_are_the_layers():
    """`described()` (what check's table and JSON read) and `layer_count` give what the
    LayerInfo rows hold, which are only made when `layers` is first read."""
    net = archlang.load("resnet18").network()
    assert "layers" not in vars(net)
    described = [(n.name, label, shape, params, macs, rf) for n, label, shape, params, macs, rf in net.described()]
    assert net.layer_count == len(described) == 69 and "layers" not in vars(net)
    assert described == [(i.name, i.op, i.output_shape, i.params, i.macs, i.receptive_field) for i in net.layers]
    assert net.layers is net.layers


def test_receptive_fields_of_vgg16_and_lenet5():
    vgg = archlang.load("vgg16").network()
    convs = [i for i in vgg.layers if i.family == "conv"]
    pools = [i for i in vgg.layers if i.op.startswith("maxpool")]
    assert convs[-1].receptive_field.size == (196, 196)
    assert pools[-1].receptive_field.size == (212, 212) and pools[-1].receptive_field.jump == (32, 32)
    lenet = archlang.load("lenet5").network()
    pool2 = lenet.layer("maxpool2").receptive_field
    assert pool2.size == (16, 16) and pool2.jump == (4, 4) and pool2.start == (7.5, 7.5)
    assert lenet.layer("flatten1").receptive_field is None
    assert lenet.layer("fc1").receptive_field is None


def test_receptive_field_at_a_merge_is_the_largest_path():
    net = analyse("network n : 3x32x32 = add(conv3x3 -> conv3x3 | conv1x1)")
    assert net.layers[-1].receptive_field.size == (5, 5)
    net = analyse("network n : 3x32x32 = concat(conv1x7 | conv7x1)")
    assert net.layers[-1].receptive_field.size == (7, 7)


def test_global_pooling_makes_the_field_global():
    net = archlang.load("resnet18").network()
    assert net.layer("head1.globalavgpool1").receptive_field is None
    assert net.layer("stem1.maxpool1").receptive_field.size == (11, 11)


@pytest.mark.parametrize("spec", [
    "network n : 4x6x6 = convtranspose3x3(6, stride=2, pad=1, output_padding=1, groups=2) -> dwconv3x3(12) "
    "-> upsample(2, linear=true) -> layernorm2d -> layerscale -> hardswish -> hardsigmoid "
    "-> maxpool3x3(stride=2, ceil_mode=true) -> avgpool(ceil_mode=true, count_include_pad=false) "
    "-> stochasticdepth(0.1) -> deconv2(4, stride=2, bias=false)",
    "network n : 3x9 = deconv4(5, stride=3, dilation=2) -> dwconv5(10, stride=2) -> upsample(size=7)",
    "network n : 2x3x4x4 = convtranspose2x2x2(4, stride=2) -> dwconv3x3x3 -> upsample((1, 2, 2))",
])
def test_torch_counts_the_zoo_ops_macs_as_archlang_does(spec):
    """FlopCounterMode (two FLOPs a MAC) on modules written from torch's documentation: a
    transposed convolution counts each input element times C'/G filters of prod(K) taps, a
    depthwise convolution as a convolution, and resampling, norms, layer scale, activations
    and pooling nothing."""
    net = analyse(spec)
    with FlopCounterMode(display=False) as counter:
        execute(net.graph, torch.randn(1, *net.input_shape))
    assert net.total_macs > 0 and counter.get_total_flops() == 2 * net.total_macs


# ---- receptive fields against gradients: the input units an output unit depends on

layer = st.tuples(
    st.sampled_from(["conv", "avgpool"]),
    st.integers(1, 5),  # kernel
    st.integers(1, 3),  # stride
    st.integers(0, 2),  # padding
    st.integers(1, 3),  # dilation (conv only)
)


def _spec(layers):
    parts = []
    for kind, k, s, p, d in layers:
        if kind == "conv":
            parts.append(f"conv(1, k={k}, stride={s}, pad={p}, dilation={d})")
        else:
            parts.append(f"avgpool(k={k}, stride={s}, pad={min(p, k // 2)})")
    return "network n : 1x300 = " + " -> ".join(parts)


@settings(max_examples=60, deadline=None)
@given(st.lists(layer, min_size=1, max_size=5))
def test_receptive_field_equals_gradient_support(layers):
    try:
        net = analyse(_spec(layers))
    except archlang.ArchError:
        assume(False)  # the chain shrinks the input below one unit
    length = net.output_shape[1]
    assume(length >= 3)
    x = torch.ones(1, *net.input_shape, requires_grad=True)
    _, modules = execute(net.graph, x.detach())
    for m in modules.values():
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
    values, _ = execute(net.graph, x, modules)
    u = length // 2
    values[net.graph.output][0, 0, u].backward()
    support = torch.nonzero(x.grad[0, 0]).flatten().tolist()
    rf = net.layers[-1].receptive_field
    centre = rf.start[0] + u * rf.jump[0]
    lo, hi = centre - (rf.size[0] - 1) / 2, centre + (rf.size[0] - 1) / 2
    assume(lo >= 0 and hi <= 299)  # else clipped by the border: the gradient cannot show the whole field
    # dilation leaves holes, but the field's ends are always reached
    assert (support[0], support[-1]) == (lo, hi)


@given(st.integers(1, 500), st.integers(1, 500))
def test_adaptive_pool_window_is_the_tightest_that_holds_every_bin(size, out):
    """The closed form (O(1) for any size) against the bins themselves: stride I/N (below 1
    when the pool enlarges the map), every bin inside its window, both ends reached by some
    bin, and floor(K) the widest bin."""
    import math
    from fractions import Fraction

    net = analyse(f"network n : 1x{size} = adaptiveavgpool({out})")
    window = net.graph.layers[0].op.window()
    (k,), (s,), (p,) = window.kernel, window.stride, window.padding
    firsts = [(j * size) // out for j in range(out)]
    lasts = [-(-((j + 1) * size) // out) - 1 for j in range(out)]
    assert s == Fraction(size, out)
    assert all(j * s - p <= a and b <= j * s - p + k - 1 for j, (a, b) in enumerate(zip(firsts, lasts)))
    assert min(a - (j * s - p) for j, a in enumerate(firsts)) == 0
    assert min(j * s - p + k - 1 - b for j, b in enumerate(lasts)) == 0
    assert math.floor(k) == max(b - a + 1 for a, b in zip(firsts, lasts))


@pytest.mark.parametrize("text,field", [
    ("network n : 1x8 = adaptiveavgpool(2147483647) -> relu", "finite"),  # O(1), not 2^31 bins
    ("network n : 1x64 = maxpool(k=1, stride=2147483647) * 40", "global"),  # jumps beyond any input
    ("network n : 1x64 = maxpool(k=1, stride=2147483647) * 3 -> conv3(1)", "global"),
])
def test_receptive_fields_stay_bounded(text, field):
    rf = analyse(text).layers[-1].receptive_field
    assert (rf is None) == (field == "global")
    if rf is not None:
        assert max(rf.size) <= 2**62 and max(rf.jump) <= 2**62


# ---- receptive fields with fractional jumps: resampling layers against gradients

def _dependence(net):
    """For each output unit (channel 0) along the one axis, the first and last input units it
    depends on (None: none), from the Jacobian: with unit weights and zero biases every layer
    here is linear with non-negative coefficients, so one batch of one-hot inputs gives it, and
    nothing cancels. In float64, where torch's own rounding of a scale like 1/3 leaves weights
    of 1e-17 (not 1e-8) on inputs exact arithmetic gives 0."""
    length = net.input_shape[1]
    x = torch.eye(length, dtype=torch.float64).reshape(length, 1, length)
    _, modules = execute(net.graph, torch.zeros(1, *net.input_shape))
    for m in modules.values():
        m.double()
        for name, p in m.named_parameters():
            torch.nn.init.ones_(p) if name == "weight" else torch.nn.init.zeros_(p)
    with torch.no_grad():
        values, _ = execute(net.graph, x, modules)
    jacobian = values[net.graph.output][:, 0, :].T  # output unit x input unit
    spans = []
    for row in jacobian:
        hit = torch.nonzero(row.abs() > 1e-9).flatten().tolist()
        spans.append((hit[0], hit[-1]) if hit else None)
    return spans


def _bounds(rf, u):
    from fractions import Fraction

    centre = rf.start[0] + u * rf.jump[0]
    half = Fraction(rf.size[0] - 1) / 2
    return centre - half, centre + half


_INTEGER = st.one_of(
    st.builds(lambda k, s, p, d: f"conv(1, k={k}, stride={s}, pad={p}, dilation={d})",
              st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2)),
    st.builds(lambda k, s, p: f"avgpool(k={k}, stride={s}, pad={min(p, k // 2)})",
              st.integers(1, 4), st.integers(1, 3), st.integers(0, 2)),
)
_BY_FACTOR = st.one_of(
    st.builds(lambda f, lin: f"upsample({f}{', linear=true' if lin else ''})", st.integers(1, 4), st.booleans()),
    st.builds(lambda k, s, p, d: f"convtranspose(1, k={k}, stride={s}, pad={min(p, d * (k - 1))}, dilation={d})",
              st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2)),
)
_TO_SIZE = st.one_of(
    st.builds(lambda n, lin: f"upsample(size={n}{', linear=true' if lin else ''})", st.integers(5, 90), st.booleans()),
    st.builds(lambda n: f"upsample(size={n}, linear=true, align_corners=true)", st.integers(5, 90)),
    st.builds(lambda n: f"adaptiveavgpool({n})", st.integers(5, 90)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_INTEGER, _BY_FACTOR, _TO_SIZE), min_size=1, max_size=4))
def test_fractional_receptive_fields_hold_every_dependence(layers):
    """Through any mix of windows and resamplings, every output unit's inputs lie in its field
    (upsampling, transposed convolution and adaptive pooling make the jump fractional)."""
    try:
        net = analyse("network n : 1x60 = " + " -> ".join(layers))
    except archlang.ArchError:
        assume(False)
    assume(net.output_shape[1] <= 500)
    rf = net.layers[-1].receptive_field
    spans = _dependence(net)
    # a transposed convolution's stride leaves units that hold no input, which a later
    # stride may pick alone (convtranspose(k=1, stride=2) -> conv(k=1, stride=2, pad=1)):
    # such an output depends on nothing and any field holds it
    assume(any(spans))
    for u, span in enumerate(spans):
        if span is not None:
            lo, hi = _bounds(rf, u)
            assert lo <= span[0] and span[1] <= hi, (u, span, (lo, hi))
            assert span[1] - span[0] + 1 <= rf.units[0]


@settings(max_examples=30, deadline=None)
@given(st.lists(_INTEGER, max_size=2), _BY_FACTOR)
def test_one_resampling_by_a_factor_gives_the_tightest_field(before, last):
    """After exact (integer) fields, upsampling by an integer factor or a transposed
    convolution gives the tightest field: among the units whose field lies inside the input,
    one reaches its first end and one its last."""
    try:
        net = analyse("network n : 1x60 = " + " -> ".join([*before, last]))
    except archlang.ArchError:
        assume(False)
    assume(net.output_shape[1] <= 500)
    rf = net.layers[-1].receptive_field
    inside = [(u, span) for u, span in enumerate(_dependence(net)) if span is not None
              and 0 <= _bounds(rf, u)[0] and _bounds(rf, u)[1] <= 59]
    assume(inside)
    assert min(span[0] - _bounds(rf, u)[0] for u, span in inside) == 0
    assert min(_bounds(rf, u)[1] - span[1] for u, span in inside) == 0


@pytest.mark.parametrize("text,size,jump,start", [
    ("upsample(2)", "3/2", "1/2", "-1/4"),  # each output unit copies one input unit
    ("convtranspose2x2(stride=2)", "3/2", "1/2", "-1/4"),  # the same dependence
    ("upsample(2, linear=true)", "5/2", "1/2", "-1/4"),  # two neighbours, 3/4 either side of o/2 - 1/4
    ("convtranspose3x3(stride=2, pad=1, output_padding=1)", "2", "1/2", "0"),
    # a pool and its inverse: back to a jump of 1; o reads 2*floor(o/2) and the next unit, so
    # the field moving one unit per output unit spans o - 1 to o + 1 (2 units each, 3 in all)
    ("maxpool -> upsample(2)", "3", "1", "0"),
    ("conv3x3(stride=2) -> convtranspose2x2(stride=2)", "4", "1", "-1/2"),
    # 8 -> 12 with corners aligned: c = 7o/11, h = 10/11; 8 -> 8 is the identity
    ("upsample(size=(12, 8), linear=true, align_corners=true)", "31/11x1", "7/11x1", "0"),
    # enlarging 2 -> 8 after a jump of 4: o reads input 4*floor(o/4), so jump 4 * 2/8 = 1 (not 4)
    ("maxpool(k=1, stride=4) -> adaptiveavgpool(8)", "4", "1", "-3/2"),
])
def test_fractional_fields_by_hand(text, size, jump, start):
    from archlang.ir import compact

    rf = analyse(f"network n : 1x8x8 = {text}").layers[-1].receptive_field
    assert (compact(rf.size), compact(rf.jump), compact(rf.start)) == (size, jump, start)


def test_fractional_fields_in_the_table_and_json(capsys, tmp_path):
    """The table prints the exact fraction (`1/2`), JSON the nearest number; whole values stay
    integers in both."""
    import json

    from archlang.cli import main
    from archlang.report import summary_rows

    net = analyse("network n : 2x8x8 = conv3x3 -> upsample(2) -> conv3x3 -> upsample((2, 3), linear=true)")
    rows = {row[0]: row for row in summary_rows(net)}
    assert rows["upsample1"][5:] == ("7/2", "1/2") and rows["conv2"][5:] == ("9/2", "1/2")
    assert rows["upsample2"][5:] == ("21/4x31/6", "1/4x1/6")
    assert net.layer("upsample2").receptive_field.units == (5, 5)
    assert net.layer("upsample1").receptive_field.to_dict() == {"size": [3.5, 3.5], "jump": [0.5, 0.5],
                                                               "start": [-0.25, -0.25]}
    assert net.layer("conv1").receptive_field.to_dict() == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}
    spec = tmp_path / "t.arch"
    spec.write_text("network n : 2x8x8 = conv3x3 -> upsample(2)\n")
    assert main(["check", str(spec), "--json"]) == 0
    field = json.loads(capsys.readouterr().out)["layers"][-1]["receptive_field"]
    assert field == {"size": [3.5, 3.5], "jump": [0.5, 0.5], "start": [-0.25, -0.25]}


def test_fractional_fields_stay_small_through_long_resampling_chains():
    """Pools and resizes to sizes with other prime factors make denominators grow without
    limit (here 7^n); past 2^64 the field is rounded outward to 2^-128, so each layer costs
    the same, and the field still bounds what an exact computation gives."""
    from fractions import Fraction

    body = "(maxpool -> upsample(size=7) -> conv3(stride=2) -> upsample(size=7)) * 100"
    net = analyse(f"network n : 1x7 = {body}")
    rf = net.layers[-1].receptive_field
    assert all(Fraction(v).denominator <= 2**128 for v in (*rf.size, *rf.jump, *rf.start))
    assert Fraction(rf.jump[0]).denominator > 2**64  # the rounding did happen
    short = analyse("network n : 1x7 = (maxpool -> upsample(size=7) -> conv3(stride=2) -> upsample(size=7)) * 4")
    exact = short.layers[-1].receptive_field
    assert Fraction(exact.jump[0]).denominator == 7**8  # exact while small
