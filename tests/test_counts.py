"""Counting conventions: every op's own work rule (`--count all`), the named conventions, and
what `check --count / --by-op` and `render --show flops,mem` print. The tools' conventions are
checked against the tools themselves in test_counts_fvcore.py and test_counts_ptflops_thop.py."""

import json
import re
from pathlib import Path

import pytest

from archlang.analysis.counting import CONVENTIONS, by_op, convention, layer_counts
from archlang.cli import main
from archlang.ops.base import Op, canonical_ops
from tests.conftest import analyse

DOCS = Path(__file__).parent.parent / "docs" / "language.md"


@pytest.mark.parametrize("cls", canonical_ops(), ids=lambda c: c.name)
def test_every_op_states_its_work_once_and_docs_list_it(cls):
    assert cls.work is not Op.work, f"{cls.name} has no work rule"
    assert cls.work_rule, f"{cls.name} says its work rule in no words"
    doc = DOCS.read_text()
    table = doc[doc.index("### Work per op"):]
    row = next((line for line in table.splitlines() if line.startswith(f"| `{cls.name}` |")), None)
    assert row is not None, f"docs/language.md has no row for {cls.name}"
    assert cls.work_rule.replace("|", "\\|") in row, f"docs/language.md's {cls.name} row is not its work_rule"


def test_all_counts_each_layer_by_its_rule():
    """Figures worked by hand, one network with one layer of each kind of rule."""
    net = analyse("""
network n : 3x8x8 =
    conv3x3(4) -> bn -> relu -> maxpool2x2 -> layernorm2d -> gelu(tanh=true) -> residual(conv1x1(4, bias=true))
    -> upsample(2, linear=true) -> adaptiveavgpool(3) -> softmax -> logsoftmax -> flatten -> dropout(0.5) -> fc(5)
""")
    counts = layer_counts(net.graph, CONVENTIONS["all"])
    assert list(counts.values()) == [
        2 * 4 * 8 * 8 * 27 + 256,    # conv: 2 per MAC, and its bias (on by default) per output
        4 * 256 + 2 * 4,             # bn: 4 per element, 2 per channel
        256,                         # relu
        4 * 16 * 3,                  # maxpool 2x2: 3 compares per output
        7 * 64 + 4 * 16,             # layernorm2d: 7 per element, 4 per position
        9 * 64,                      # gelu, tanh form
        2 * 64 * 4 + 64,             # the residual's conv1x1 with its bias
        64,                          # the residual's add
        3 * 3 * 256,                 # bilinear: 3 lerps of 3 per output
        4 * 10 * 10,                 # adaptive 8 -> 3: windows 0-3, 2-6, 5-8 (3 + 4 + 3 per axis), 4 channels
        5 * 36,                      # softmax
        5 * 36 + 9,                  # logsoftmax: 5 per element, a log per position
        0, 0,                        # flatten, dropout
        2 * 36 * 5 + 5,              # fc with bias
    ]


def test_recurrent_and_attention_work():
    net = analyse("network n : [6]x8 = attention(2, causal=true) -> lstm(4) -> gru(3, last=true)")
    attention, lstm, gru = layer_counts(net.graph, CONVENTIONS["all"]).values()
    assert attention == 2 * (4 * 6 * 8 * 8 + 2 * 6 * 6 * 8) + 4 * 6 * 8 + 6 * 2 * 6 * 6
    assert lstm == 2 * 4 * 4 * (8 + 4) * 6 + 30 * 4 * 6
    assert gru == 2 * 3 * 3 * (4 + 3) * 6 + 23 * 3 * 6


def test_macs_is_the_mac_column_and_flops_its_double():
    net = analyse("network n : 3x16x16 = conv3x3(8) -> relu -> globalavgpool -> flatten -> fc(10)")
    macs = layer_counts(net.graph, convention("macs"))
    assert macs == {i.name: i.macs for i in net.layers}
    assert layer_counts(net.graph, convention("flops")) == {k: 2 * v for k, v in macs.items()}
    assert by_op(net.graph, convention("macs"))["conv"] == (1, 8 * 16 * 16 * 27)


def test_check_count_adds_a_column_a_total_and_json(capsys):
    assert main(["check", "lenet5", "--count", "all"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("Layer"))
    assert re.search(r"MACs\s+all \(FLOPs\)\s+RF", header)
    assert "all  850,794 (850.79 kFLOPs): every arithmetic operation" in out
    assert "MACs    416,520 (416.52 kMACs = 833.04 kFLOPs)" in out
    assert main(["check", "lenet5", "--count", "flops", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == {"convention": "flops", "unit": "FLOPs", "total": 833_040}
    assert data["total_macs"] == 416_520  # kept as it is
    assert [layer["count"] for layer in data["layers"]][:3] == [235_200, 0, 0]


def test_by_op_shows_every_convention_side_by_side(capsys):
    assert main(["check", "resnet18", "--by-op"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("Op"))
    assert header.split() == ["Op", "Layers", "macs", "flops", "fvcore", "ptflops", "thop", "all"]
    bn = next(line for line in out.splitlines() if line.lstrip().startswith("bn ")).split()
    assert bn[1] == "20" and bn[2] == "-"  # batch norm: no MACs, but some tools count it
    assert main(["check", "resnet18", "--by-op", "--count", "ptflops", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["by_op"]
    assert sum(r["layers"] for r in rows) == 69 and all({"kind", "layers", "ptflops", "macs"} <= set(r) for r in rows)


@pytest.mark.parametrize("argv, message", [
    (["--count", "ptflop"], "no counting convention 'ptflop' (did you mean 'ptflops'?); conventions: macs, "),
    (["--memory", "--batch", "0"], "argument --batch: must be at least 1, not 0"),
    (["--memory", "--batch", "-3"], "argument --batch: must be at least 1, not -3"),
    (["--memory", "--dtype", "float64"], "float64"),
    (["--memory", "--optimizer", "lion"], "lion"),
    (["--batch", "8"], "--batch only means something with --memory"),
])
def test_bad_cost_options_are_usage_errors(capsys, argv, message):
    try:
        code = main(["check", "lenet5", *argv])
    except SystemExit as exit:  # argparse's own checks
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_count_beyond_64_bits_is_said_not_wrapped(tmp_path, capsys):
    spec = tmp_path / "big.arch"
    spec.write_text("network big : 3x1000000x1000000 = conv3x3(1000000)\n")
    assert main(["check", str(spec), "--count", "all", "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)["errors"][0]
    assert "does not fit in 64 bits" in error["message"] and "55,000,000,000,000,000,000" in error["message"]


def test_render_shows_flops_and_output_memory():
    from archlang.backends.dot import DiagramOptions, to_dot

    net = analyse("network n : 3x32x32 = conv3x3(16) -> relu -> maxpool2x2 -> flatten -> fc(10)")
    source = to_dot(net.graph, DiagramOptions(show=("flops", "mem"))).source
    assert "FLOPs 885k" in source  # 2 x 16 x 32 x 32 x 27 = 884,736
    assert "out 64.0 KiB" in source and "out 40 B" in source  # 16 x 32 x 32 floats; 10 floats


def test_costs_doc_says_what_every_convention_counts_and_each_quirk():
    from archlang.cost_report import conventions

    doc = (Path(__file__).parent.parent / "docs" / "costs.md").read_text()
    for conv in conventions():
        assert f"### `{conv.name}`: {conv.unit}" in doc
        assert conv.summary[1:] in doc, f"docs/costs.md does not say what {conv.name} counts"
        for quirk in conv.quirks:
            assert f"- {quirk}" in doc, f"docs/costs.md lacks {conv.name}'s quirk: {quirk[:60]}"


def test_the_api_counts_by_name_and_estimates_memory():
    from archlang.analysis.counting import UnknownConvention

    net = analyse("network n : 3x16x16 = conv3x3(8) -> bn -> relu -> globalavgpool -> flatten -> fc(10)")
    assert net.count() == net.total_macs and net.count("flops") == 2 * net.total_macs
    assert net.counts("all")["relu1"] == 8 * 16 * 16
    with pytest.raises(UnknownConvention, match="conventions: macs, "):
        net.count("gflops")
    mem = net.memory(batch=4, dtype="float16", optimizer="adam")
    assert mem.weights == 2 * net.total_params + 2 * 2 * 8 + 8  # float16 weights, running stats, int64 step count
    assert mem.activations["conv1"] == 4 * 8 * 16 * 16 * 2


def test_check_memory_adds_columns_totals_and_json(capsys):
    assert main(["check", "lenet5", "--memory", "--batch", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["memory"])[:3] == ["weights", "inference_peak", "training_step"]
    assert data["memory"]["weights"] == 61_706 * 4 and data["memory"]["batch"] == 8
    assert data["layers"][0]["activation_bytes"] == 8 * 6 * 28 * 28 * 4
    assert main(["check", "lenet5", "--memory", "--batch", "8", "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"MACs\s+Output \(b8\)\s+Kept for backward\s+RF", out)
    assert "inference peak" in out and "adam state 482 KiB" in out  # two buffers per parameter
