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
}

# torchvision's published GFLOPS (really GMACs), as printed in its model table
GMACS = {
    "vgg11": "7.609", "vgg13": "11.308", "vgg16": "15.47", "vgg19": "19.632",
    "resnet18": "1.814", "resnet34": "3.664", "resnet50": "4.089", "resnet101": "7.801", "resnet152": "11.514",
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


@pytest.mark.parametrize("name", BUNDLED)
def test_torch_agrees_on_shapes_params_and_macs(name):
    """Run each bundled network through torch on the meta device (shapes only, no weights)."""
    net = archlang.load(name).network()
    with torch.device("meta"):
        x = torch.empty(1, *net.input_shape)
        with FlopCounterMode(display=False) as counter:
            values, modules = execute(net.graph, x)
    for node in net.graph.layers:
        assert tuple(values[node.name].shape[1:]) == node.type.shape, node.name
    assert sum(p.numel() for m in modules.values() for p in m.parameters()) == net.total_params
    assert counter.get_total_flops() == 2 * net.total_macs  # torch counts a MAC as two FLOPs


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
def test_adaptive_pool_window_is_the_widest_bin_and_smallest_step(size, out):
    """The closed form (O(1) for any size) against the bins themselves."""
    net = analyse(f"network n : 1x{size} = adaptiveavgpool({out})")
    window = net.graph.layers[0].op.window()
    bins = [-(-((j + 1) * size) // out) - (j * size) // out for j in range(out)]
    starts = [(j * size) // out for j in range(out)]
    step = min((b - a for a, b in zip(starts, starts[1:])), default=size) or 1
    assert (window.kernel, window.stride) == ((max(bins),), (step,))


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
