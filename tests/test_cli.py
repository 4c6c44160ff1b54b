"""The `archlang` command: tables, JSON, exit codes, stderr, and no torch import."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archlang.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "archlang", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_check_table(capsys):
    assert main(["check", "lenet5"]) == 0
    out = capsys.readouterr().out
    for text in ("lenet5", "conv 5x5, 6, pad 0", "6x28x28", "16x5x5", "61,706", "416,520", "global"):
        assert text in out


def test_check_json_schema(capsys):
    assert main(["check", "lenet5", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    lines = out.splitlines()  # json_text: the top keys one per line, each layer on a line of its own
    assert len(lines) == 6 + len(data["layers"]) + 3 and lines[2] == '  "input_shape": [1, 32, 32],'
    assert set(data) == {"network", "input_shape", "output_shape", "total_params", "total_macs", "layers"}
    assert data["input_shape"] == [1, 32, 32] and data["output_shape"] == [10]
    first = data["layers"][0]
    assert set(first) == {"name", "op", "output_shape", "params", "macs", "receptive_field"}
    assert first == {"name": "conv1", "op": "conv 5x5, 6, pad 0", "output_shape": [6, 28, 28], "params": 156,
                     "macs": 117600, "receptive_field": {"size": [5, 5], "jump": [1, 1], "start": [2, 2]}}
    assert data["layers"][-1]["receptive_field"] is None


def test_check_a_file_with_several_networks(capsys, tmp_path):
    spec = tmp_path / "two.arch"
    spec.write_text("network a : 3x8x8 = conv3x3(4)\nnetwork b : 10 = fc(2)\n")
    assert main(["check", str(spec), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["network"] for d in data] == ["a", "b"]
    assert main(["check", str(spec), "-n", "b", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["network"] == "b"


def test_the_program_ends_with_all_its_output():
    """The program ends with os._exit once its command is done (cli.run): everything it wrote
    has reached the pipe first, more than a pipe's buffer here, and its exit status is main's."""
    code, out, err = run("check", "resnet152", "--json")
    assert code == 0 and err == "" and len(out) > 65_536
    assert json.loads(out)["total_params"] == 60_192_808


def test_spec_error_exit_1_on_stderr(tmp_path):
    spec = tmp_path / "bad.arch"
    spec.write_text("network n : 1x4x4 =\n    conv5x5(6, pad=0)\n")
    code, out, err = run("check", str(spec))
    assert code == 1 and out == ""
    assert f"{spec}:2:5: error: spatial size becomes 0 after conv5x5" in err
    assert "O = (I + 2P - K)/S + 1 = (4 + 0 - 5)/1 + 1 = 0" in err
    assert "Traceback" not in err


def test_spec_error_with_json_stays_json(tmp_path):
    spec = tmp_path / "bad.arch"
    spec.write_text("network n : 3x8x8 = conv3x3 -> rleu\n")
    code, out, err = run("check", str(spec), "--json")
    assert code == 1
    (error,) = json.loads(out)["errors"]
    assert (error["file"], error["line"], error["column"]) == (str(spec), 1, 32)
    assert error["message"] == "unknown layer or block 'rleu'" and error["hint"] == "did you mean 'relu'?"


@pytest.mark.parametrize("args", [[], ["check"], ["frobnicate"], ["check", "resnt50"], ["check", "lenet5", "-n", "x"],
                                  ["check", "lenet5", "--bogus"]])
def test_usage_errors_exit_2(args, capsys):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err


def test_unknown_spec_suggests_a_bundled_name(capsys):
    assert main(["check", "resnt50"]) == 2
    assert "did you mean 'resnet50'?" in capsys.readouterr().err


def test_check_does_not_import_torch_or_onnx():
    code = (
        "import sys, io, contextlib\n"
        "from archlang.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['check', 'resnet152']) == 0\n"
        "    assert main(['check', 'resnet50', '--json']) == 0\n"
        "bad = [m for m in ('torch', 'onnx', 'onnxruntime', 'graphviz') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("archlang")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("archlang ")


def test_list_shows_the_bundled_library(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.index("resnet18 ") < out.index("resnet101") and "25,557,032" in out and "4.089 G" in out
    assert main(["list", "--json"]) == 0
    rows = {r["network"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["vgg16"]["total_params"] == 138_357_544 and rows["vgg16"]["spec"] == "vgg.arch"


def test_spec_from_stdin():
    proc = subprocess.run([sys.executable, "-m", "archlang", "check", "-", "--json"], input="network s : 4 = fc(2)\n",
                          capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["total_params"] == 10
    proc = subprocess.run([sys.executable, "-m", "archlang", "check", "-"], input="network s : 4 = fc(2 3)\n",
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("<stdin>:1:22: error: unexpected '3'")
    assert "arguments are separated by ','" in proc.stderr


BLOCK = "import sys\nfor m in {mods!r}:\n    sys.modules[m] = None  # as if not installed\nfrom archlang.cli import main\n"


@pytest.mark.parametrize("mods,args,extra", [
    (["torch"], ["compile", "lenet5", "-o", "{tmp}/x.pt2"], "archlang[torch]"),
    (["onnx"], ["compile", "lenet5", "-o", "{tmp}/x.onnx"], "archlang[onnx]"),
    (["graphviz"], ["render", "lenet5", "-o", "{tmp}/x.dot"], "archlang[viz]"),
    (["onnxruntime"], ["bench", "lenet5"], "archlang[bench]"),
    (["pygls"], ["lsp"], "archlang[lsp]"),
])
def test_a_missing_extra_is_named_in_one_line(mods, args, extra, tmp_path):
    code = BLOCK.format(mods=mods) + f"sys.exit(main({[a.format(tmp=tmp_path) for a in args]!r}))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"pip install '{extra}'" in proc.stderr


def test_check_and_python_source_need_no_extra(tmp_path):
    code = BLOCK.format(mods=["torch", "onnx", "onnxruntime", "graphviz", "numpy"]) + (
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['check', 'resnet50']) == 0\n"
        f"assert main(['compile', 'resnet18', '-o', {str(tmp_path / 'r.py')!r}]) == 0\n"
        "import archlang\n"
        "assert archlang.load('lenet5').network()._repr_svg_() is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "class Resnet18(nn.Module)" in (tmp_path / "r.py").read_text()


def test_check_emit_ir_prints_the_golden_ir(capsys):
    assert main(["check", "lenet5", "--emit", "ir"]) == 0
    golden = Path(__file__).parent / "golden" / "ir" / "lenet5.ir"
    assert capsys.readouterr().out == golden.read_text()


def test_check_table_is_plain_in_a_pipe_and_coloured_on_a_terminal():
    from archlang.report import summary_lines

    net = __import__("archlang").load("lenet5").network()
    plain, coloured = summary_lines(net), summary_lines(net, color=True)
    assert not any("\x1b" in line for line in plain)
    assert "\x1b[36mconv 5x5, 6, pad 0" in coloured[4] and len(plain) == len(coloured) == len(net.layers) + 7
