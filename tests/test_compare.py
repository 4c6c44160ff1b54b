"""`archlang diff` and `archlang.compare.compare`: layers added, removed and changed, repeats,
where shape changes start and how far they go, totals, JSON, and the merged diagram."""

import json
from functools import lru_cache

import pytest

import archlang
from archlang.backends.dot import dot_available
from archlang.cli import main
from archlang.compare import IncomparableNetworks, Total, compare

SPEC = """\
block stage(c, n) = (conv3x3(c) -> relu) * n -> maxpool
network base : 3x32x32 = stage(16, 2) -> stage(32, 2) -> flatten -> fc(10)
network narrow : 3x32x32 = stage(16, 2) -> stage(24, 2) -> flatten -> fc(10)
network pooled : 3x32x32 = stage(16, 2) -> stage(32, 2) -> bn -> maxpool -> flatten -> fc(10)
network five : 3x32x32 = stage(16, 2) -> stage(32, 2) -> flatten -> fc(5)
network wave : 1x64 = conv3(4) -> flatten -> fc(10)
"""


@lru_cache(maxsize=None)
def program(spec: str) -> archlang.Program:
    """SPEC's text, or the file of a bundled network (its name)."""
    return archlang.parse(spec) if spec == SPEC else archlang.load(spec)


def net(name: str, spec: str = SPEC) -> archlang.Network:
    return program(spec).network(name)


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.arch"
    path.write_text(SPEC)
    return str(path)


def test_vgg16_bn_adds_a_batch_norm_after_each_of_13_convolutions():
    diff = compare(net("vgg16", "vgg16"), net("vgg16_bn", "vgg16"))
    assert diff.summary()[0] == "13 bn layers added, +8,448 params"
    assert [x.name for x in diff.added][:2] == ["vgg1.stage1.bn1", "vgg1.stage1.bn2"]
    assert not (diff.removed or diff.changed or diff.shape_changes or diff.repeats)
    assert (diff.params.delta, diff.macs.delta) == (8_448, 0)
    assert "params  138,357,544 -> 138,365,992  +8,448 (+0.0061%)" in diff.text()


def test_resnet101_repeats_the_third_stage_23_times(capsys):
    assert main(["diff", "resnet50", "resnet101"]) == 0
    out = capsys.readouterr().out
    assert "bottleneck(256): 6 -> 23 repeats" in out
    assert "170 layers added (51 conv, 51 bn, 51 relu, 17 add), +18,992,128 params" in out
    assert "bottleneck(256) x17 'bottleneck14' .. 'bottleneck30'  170 layers  +18,992,128 params" in out
    # fewer repeats the other way, each removed block instance whole, none of the 512s shifted
    diff = compare(net("resnet152", "resnet50"), net("resnet101", "resnet50"))
    assert [r.text() for r in diff.repeats] == ["bottleneck(128): 8 -> 4 repeats", "bottleneck(256): 36 -> 23 repeats"]
    assert {x.block for x in diff.removed} == {f"bottleneck{i}" for i in (*range(8, 12), *range(35, 48))}
    assert not diff.changed and not diff.shape_changes


def test_a_changed_argument_and_where_its_shape_change_starts_and_ends():
    diff = compare(net("base"), net("narrow"))
    assert [c.text() for c in diff.changed] == [
        "conv 'stage2.conv1': out_channels 32 -> 24",
        "conv 'stage2.conv2': in_channels 32 -> 24, out_channels 32 -> 24",
        "fc 'fc1': in_features 2048 -> 1536",
    ]
    (change,) = diff.shape_changes
    assert change.text() == ("shape change starts at conv 'stage2.conv1': 32x16x16 -> 24x16x16; "
                             "it ends at 'flatten1' (6 layers)")
    (to_output,) = compare(net("base"), net("five")).shape_changes
    assert (to_output.layer, to_output.reaches_output, to_output.before, to_output.after) == ("fc1", True, "10", "5")


def test_added_and_removed_layers_start_the_shape_change_they_cause():
    diff = compare(net("base"), net("pooled"))
    assert diff.summary()[0] == "2 layers added (1 bn, 1 maxpool), +64 params"
    (change,) = diff.shape_changes
    assert change.text() == ("shape change starts at the added maxpool 'maxpool1': 32x8x8 -> 32x4x4; "
                             "it ends at 'flatten1' (1 layer)")
    back = compare(net("pooled"), net("base"))
    assert back.summary()[0] == "2 layers removed (1 bn, 1 maxpool), -64 params"
    assert back.shape_changes[0].kind == "removed" and back.shape_changes[0].layer == "maxpool1"


def test_totals_before_after_delta_and_percentage():
    assert Total(37_146, 26_826).text() == "37,146 -> 26,826  -10,320 (-27.78%)"
    assert Total(1_000, 1_000).text() == "1,000 -> 1,000  +0 (0%)"
    assert Total(0, 5).percent is None and Total(0, 5).text() == "0 -> 5  +5"
    diff = compare(net("base"), net("narrow"))
    assert diff.params.to_dict() == {"before": 37_146, "after": 26_826, "delta": -10_320, "percent": -27.782265}


def test_json_carries_the_same_facts(small, capsys):
    assert main(["diff", f"{small}:base", f"{small}:pooled", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["a"], data["b"], data["identical"]) == ("base", "pooled", False)
    assert data["counts"] == {"added": {"bn": 1, "maxpool": 1}, "removed": {}, "changed": {"fc": 1}}
    assert data["totals"]["params"] == {"before": 37_146, "after": 21_850, "delta": -15_296, "percent": -41.178054}
    assert [x["name"] for x in data["added"]] == ["bn1", "maxpool1"] and data["added"][0]["params"] == 64
    assert data["changed"] == [{"name": "fc1", "was": "fc1", "op": "fc",
                                "fields": [{"field": "in_features", "before": 2048, "after": 512}]}]
    assert data["shape_changes"][0]["kind"] == "added" and data["repeats"] == []
    assert compare(net("resnet50", "resnet50"), net("resnet101", "resnet50")).to_dict()["repeats"] \
        == [{"block": "bottleneck(256)", "within": "", "before": 6, "after": 23}]


def test_identical_networks_have_no_structural_differences(small, capsys):
    assert main(["diff", small, "-n", "base", "-n", "base"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "  no structural differences (37,146 params, 6,361,088 MACs)"
    assert compare(net("base"), net("base")).to_dict()["identical"] is True


def test_the_diagram_colours_added_removed_and_changed_layers(small, tmp_path, capsys):
    out = tmp_path / "diff.dot"
    assert main(["diff", small, "-n", "pooled", "-n", "narrow", "-o", str(out)]) == 0
    source = out.read_text()
    for status in ("#b9e4b4", "#f6c1bb", "#ffd27a"):  # no added fill: narrow adds nothing
        assert (status in source) == (status != "#b9e4b4"), status
    assert "in_features 512 -> 1536" in source and "style=dashed" in source and "(was " in source
    assert main(["diff", small, "-n", "base", "-n", "pooled", "-o", str(out)]) == 0
    assert "#b9e4b4" in out.read_text() and "added (in B only)" in out.read_text()
    if dot_available():
        svg = tmp_path / "diff.svg"
        assert main(["diff", small, "-n", "base", "-n", "pooled", "-o", str(svg)]) == 0
        assert "<svg" in svg.read_text()
    assert "wrote" in capsys.readouterr().err


def test_inputs_of_another_rank_are_an_error_and_nothing_is_written(small, tmp_path, capsys):
    with pytest.raises(IncomparableNetworks, match="wave reads a 1-D input"):
        compare(net("wave"), net("base"))
    out = tmp_path / "diff.dot"
    assert main(["diff", f"{small}:wave", f"{small}:base", "-o", str(out)]) == 1
    assert "cannot compare wave with base" in capsys.readouterr().err and not out.exists()


def test_the_command_line_names_two_networks(small, capsys):
    assert main(["diff", small]) == 2
    assert "give A and B" in capsys.readouterr().err
    assert main(["diff", small, "-n", "base", "-n", "nope"]) == 2
    assert "no network named 'nope'" in capsys.readouterr().err
    assert main(["diff", small, "vgg16"]) == 2
    assert "choose one with" in capsys.readouterr().err
    assert main(["diff", small, small, "-n", "base", "-o", "x.txt"]) == 2
    assert "formats: .svg" in capsys.readouterr().err
