"""`check --format markdown|latex|csv [--columns]`: the per-layer table for documents."""

import csv
import io

import pytest

from archlang.cli import main


def table(capsys, *args) -> str:
    assert main(["check", *args]) == 0
    return capsys.readouterr().out


def test_markdown_is_a_github_table_with_a_bold_total(capsys):
    lines = table(capsys, "lenet5", "--format", "markdown").splitlines()
    assert lines[0] == "| Layer | Op | Output | Params | MACs | RF | Jump |"
    assert lines[1] == "|:---|:---|---:|---:|---:|---:|---:|"
    assert lines[2] == "| conv1 | conv 5x5, 6, pad 0 | 6x28x28 | 156 | 117,600 | 5 | 1 |"
    assert lines[-1] == "| **Total** |  |  | **61,706** | **416,520** |  |  |"
    assert len(lines) == 2 + 12 + 1


def test_latex_uses_booktabs_escapes_and_times(capsys):
    text = table(capsys, "resnet18", "--format", "latex", "--columns", "layer,output,params")
    assert "\\begin{tabular}{lrr}\n\\toprule\nLayer & Output & Params \\\\\n\\midrule\n" in text
    assert "stem1.cbn1.conv1 & 64$\\times$112$\\times$112 & 9,408 \\\\" in text  # a dotted name, a shape
    assert "relu1 & 64$\\times$112$\\times$112 & -- \\\\" in text.replace("stem1.cbn1.", "")
    assert text.endswith("\\midrule\nTotal &  & 11,689,512 \\\\\n\\bottomrule\n\\end{tabular}\n")


def test_latex_escapes_what_tex_reads_as_commands():
    from archlang.tables import _latex_cell

    assert _latex_cell("a_b & 50% #1 {x} $y ~ ^ \\") == (
        "a\\_b \\& 50\\% \\#1 \\{x\\} \\$y \\textasciitilde{} \\textasciicircum{} \\textbackslash{}")
    assert _latex_cell("[197]x768") == "[197]$\\times$768" and _latex_cell("max x") == "max x"


def test_csv_has_raw_integers_that_sum_to_the_total(capsys):
    rows = list(csv.reader(io.StringIO(table(capsys, "lenet5", "--format", "csv", "--count", "all", "--memory",
                                             "--batch", "2"))))
    assert rows[0] == ["layer", "op", "output", "params", "macs", "count", "output_bytes", "kept_bytes", "rf", "jump"]
    body, total = rows[1:-1], rows[-1]
    assert body[0][:6] == ["conv1", "conv 5x5, 6, pad 0", "6x28x28", "156", "117600", "239904"]
    assert body[1][3] == "" and total[0] == "Total"
    for i in (3, 4, 5):
        assert sum(int(r[i] or 0) for r in body) == int(total[i])


@pytest.mark.parametrize("args, message", [
    (["lenet5", "--format", "csv", "--columns", "layer,flops"], "no column 'flops'; columns: layer, op, output"),
    (["lenet5", "--columns", "layer"], "--columns chooses the columns of --format markdown, latex or csv"),
    (["lenet5", "--format", "csv", "--json"], "--format writes the per-layer table"),
])
def test_bad_table_options_are_usage_errors(capsys, args, message):
    assert main(["check", *args]) == 2
    assert message in capsys.readouterr().err


def test_several_networks(capsys, tmp_path):
    spec = tmp_path / "two.arch"
    spec.write_text("network a : 4 = fc(2)\nnetwork b : 4 = fc(3)\n")
    text = table(capsys, str(spec), "--format", "markdown")
    assert text.startswith("**a** `4 -> 2`\n\n| Layer |") and "\n**b** `4 -> 3`\n" in text
    assert main(["check", str(spec), "--format", "csv"]) == 2
    assert "a CSV table holds one: choose it with -n" in capsys.readouterr().err


def test_readme_shows_each_format_as_it_is(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    shown = re.search(r"<!-- table-markdown -->\n(.*?)<!-- /table-markdown -->", readme, re.S).group(1)
    assert shown == table(capsys, "lenet5", "--format", "markdown", "--columns", "layer,op,output,params,macs")
    for key in ("latex", "csv"):
        block = re.search(rf"<!-- table-{key} -->\n```\w*\n\$ archlang (.*?)\n(.*?)```", readme, re.S)
        assert block.group(2) == table(capsys, *block.group(1).split()[1:])
