"""archlang sizes: the fast sweep equals brute force (a lowering per size), the progressions
read as the issue writes them, and the command's text, JSON and exit codes."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archlang
from archlang.cli import main
from archlang.sizes import brute_force, sizes
from archlang.sizes_report import _runs, progression_text

SPEC = """
use "unet"
block unit(c) = conv3x3(c, bias=false) -> bn -> relu
block level(c, inner) = unit(c) * 2 as skip -> maxpool -> inner -> deconv2x2(c, stride=2) -> concat(skip | identity)
    -> unit(c) * 2
block cropped(c, inner) = conv3x3(c, pad=0) * 2 as skip -> maxpool -> inner -> deconv2x2(c, stride=2) as up
    -> concat(skip -> crop(like=up) | up) -> conv3x3(c, pad=0)

network chain : 1x?x? = conv3x3(4, pad=0) -> maxpool -> conv5x5(8, stride=2, pad=1) -> maxpool3x3(stride=2, pad=1, ceil_mode=true)
    -> conv(8, k=3, dilation=2)
network wide : 3x?x24 = conv(4, k=(3, 5), stride=(2, 3), pad=0) -> avgpool(k=3, stride=2) -> flatten -> fc(10)
network res : 3x?x? = conv3x3(8) -> residual(conv3x3(16, stride=2) -> relu -> conv3x3(16)) -> residual(conv3x3(16) -> relu)
    -> residual(conv3x3(16, stride=3, pad=0)) -> globalavgpool -> flatten -> fc(10)
network unet_small : 3x?x? = level(8, level(16, unit(32) * 2)) -> conv1x1(2)
network unet_crop : 1x?x? = cropped(8, cropped(16, conv3x3(32, pad=0))) -> conv1x1(2)
network lenet : 1x?x? -> 10 = conv5x5(6, pad=0) : 6@28x28 -> tanh -> avgpool : 6@14x14
    -> conv5x5(16, pad=0) -> tanh -> avgpool -> flatten : 400 -> fc(120) -> fc(10)
network gates : 3x?x? -> 2 = conv3x3(8, stride=2) as a -> maxpool -> upsample(like=a) -> add(a | identity) -> upsample(3)
    -> mul(identity | globalavgpool) -> conv3x3(4) : 4x?x? -> globalmaxpool -> flatten -> fc(2)
network declared : 3x?x? -> 8x5x5 = conv3x3(8, stride=2, pad=0) -> maxpool
network two(left : 3x?x?, right : 3x?x16) = concat(left -> conv3x3(4, stride=2) | right -> maxpool)
    -> mul(identity | globalavgpool)
network unet_open : 1x?x? = unet_levels(valid_conv)
"""

NETWORKS = ("chain", "wide", "res", "unet_small", "unet_crop", "lenet", "gates", "declared", "two")


@pytest.fixture(scope="module")
def program():
    return archlang.parse(SPEC, "sizes.arch")


def _same(fast, slow):
    assert [a.valid for a in fast.axes] == [a.valid for a in slow.axes]
    assert [a.summary for a in fast.axes] == [a.summary for a in slow.axes]
    assert [a.smallest for a in fast.axes] == [a.smallest for a in slow.axes]
    assert [[f.size for f in a.failures] for a in fast.axes] == [[f.size for f in a.failures] for a in slow.axes]


@pytest.mark.parametrize("name", NETWORKS)
def test_fast_equals_brute_force(program, name):
    _same(sizes(program, name, 512), brute_force(program, name, 512))


def test_every_network_swept_means_something(program):
    """Each network of the sweep has valid and invalid sizes, so the comparison can fail."""
    for name in NETWORKS:
        for axis in brute_force(program, name, 64).axes:
            assert 0 < len(axis.valid), name
    assert any(a.failures for n in NETWORKS for a in sizes(program, n, 64).axes)


def test_unet_with_four_poolings_and_skips_takes_multiples_of_16(program):
    p = archlang.parse(SPEC.replace("level(8, level(16, unit(32) * 2))",
                                    "level(8, level(16, level(32, level(64, unit(128) * 2))))"), "sizes.arch")
    result = sizes(p, "unet_small", 4096)
    assert result.axes[0].summary == "16, 32, 48, ... 4096: multiples of 16"
    assert result.axes[0].smallest == 16
    first = result.axes[0].failures[0]
    assert (first.size, first.layer) == (15, "level1.level1.level1.level1.maxpool1")
    assert "spatial size becomes 0 after maxpool2x2" in first.message


def test_assertions_pin_sizes(program):
    axis = sizes(program, "lenet", 512).axes[0]
    assert axis.valid == (32,)
    assert axis.failures[0].size == 31 and "6@28x28" in axis.failures[0].message


def test_header_sizes_stay_where_written(program):
    result = sizes(program, "wide", 64)
    assert len(result.axes) == 2
    assert result.axes[0].valid != result.axes[1].valid  # axis 2 sweeps with axis 1 at ?, axis 1 is swept alone


def test_concrete_header_sweeps_too():
    result = sizes(archlang.load("resnet18"), "resnet18", 256)
    assert [a.summary for a in result.axes] == ["1 to 256: every size"] * 2


def test_unet_paper_crops_make_every_size_from_188_valid(program):
    assert sizes(program, "unet_open", 600).axes[0].summary == "188 to 600: every size"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["conv", "maxpool", "avgpool", "deconv"]), st.integers(1, 4),
                          st.integers(1, 3), st.integers(0, 2), st.booleans()), min_size=1, max_size=4))
def test_generated_chains(layers):
    parts = []
    for op, k, s, p, ceil in layers:
        p = min(p, k // 2)
        if op == "conv":
            parts.append(f"conv(4, k={k}, stride={s}, pad={p})")
        elif op == "deconv":
            parts.append(f"deconv(4, k={k}, stride={s}, pad={p})")
        else:
            parts.append(f"{op}(k={k}, stride={s}, pad={p}, ceil_mode={'true' if ceil else 'false'})")
    chain = " -> ".join(parts)
    program = archlang.parse(f"network g : 2x?x? = conv3x3(4) as a -> {chain} -> add(identity | identity)\n", "g.arch")
    _same(sizes(program, "g", 40), brute_force(program, "g", 40))


# -- progressions


@pytest.mark.parametrize("valid, text", [
    (range(32, 4097, 32), "32, 64, 96, ... 4096: multiples of 32"),
    (range(16, 4097, 16), "16, 32, 48, ... 4096: multiples of 16"),
    (range(32, 4097), "32 to 4096: every size"),
    (range(64, 513, 32), "64, 96, 128, ... 512: multiples of 32 from 64"),
    (range(1, 100, 8), "1, 9, 17, ... 97: every 8th size from 1"),
    ([], "none"),
    ([7], "7"),
    ([7, 9], "7, 9"),
    ([4, 8, 12], "4, 8, 12: multiples of 4"),
    ([4, 8, 12, 16], "4, 8, 12, 16: multiples of 4"),
    ([*range(1, 11), *range(20, 101, 10)], "1 to 10: every size; 20, 30, 40, ... 100: multiples of 10 from 20"),
    ([3, *range(8, 65, 8)], "3; 8, 16, 24, ... 64: multiples of 8"),
])
def test_progression_text(valid, text):
    assert progression_text(list(valid)) == text


@given(st.sets(st.integers(1, 300), max_size=60))
def test_runs_cover_exactly(valid):
    covered = [f + k * s for f, s, c in _runs(list(valid)) for k in range(c)]
    assert sorted(covered) == sorted(valid)


def test_interleaved_progressions_read_as_two():
    valid = sorted({*range(4, 200, 4), *range(5, 200, 4)})
    assert progression_text(valid) == ("4, 8, 12, ... 196: multiples of 4; 5, 9, 13, ... 197: every 4th size from 5")


# -- the command


def test_cli_text(tmp_path, capsys):
    spec = tmp_path / "s.arch"
    spec.write_text(SPEC)
    assert main(["sizes", str(spec), "-n", "unet_small", "--max", "128"]) == 0
    out = capsys.readouterr().out
    assert "unet_small  3x?x?  sizes 1 to 128" in out
    assert "axis 1  4, 8, 12, ... 128: multiples of 4" in out
    assert "smallest 4" in out
    assert "3: level1.level1.maxpool1 (spatial size becomes 0 after maxpool2x2)" in out


def test_cli_json(tmp_path, capsys):
    spec = tmp_path / "s.arch"
    spec.write_text(SPEC)
    assert main(["sizes", str(spec), "-n", "declared", "--max", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"network", "max", "axes"} and data["network"] == "declared" and data["max"] == 64
    assert len(data["axes"]) == 2
    for axis in data["axes"]:
        assert set(axis) == {"valid", "summary", "smallest"}
        assert axis["valid"] == [21, 22, 23, 24] and axis["smallest"] == 21 and axis["summary"] == "21 to 24: every size"


def test_cli_errors(tmp_path, capsys):
    spec = tmp_path / "s.arch"
    spec.write_text("network x : ?x?x? = relu\n")
    assert main(["sizes", str(spec)]) == 1
    assert main(["sizes", "lenet5", "-n", "nope"]) == 2
    assert main(["sizes", "lenet5", "--max", "0"]) == 2


def test_readme_example_is_current(tmp_path, capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    spec = re.search(r"saved as `unet.arch`:\n\n```\n(.*?)```", readme, re.S).group(1)
    shown = re.search(r"<!-- sizes -->\n```\n\$ archlang sizes unet.arch\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "unet.arch").write_text(spec)
    assert main(["sizes", str(tmp_path / "unet.arch")]) == 0
    assert capsys.readouterr().out == shown
