"""Hostile and unlucky inputs to the command and its file handling (issue 9): every one ends
in a clear message and an exit status, never a traceback, a hang, a huge allocation, a
leftover temporary file or a write through to a device."""

import io
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archlang import check_cli, cli
from archlang.cli import main
from archlang.errors import LimitError, SpecImportError
from archlang.output import OutputError, write_atomic
from archlang.program import MAX_FILE_BYTES, load, parse

BIG = "network n : 100000 = fc(100000) -> fc(100000) * 200\n"  # 2e12 parameters: 8 TB of weights


def _limit_memory():
    """A safety belt for subprocesses that must not allocate: were the budget check missing,
    they fail fast here instead of swapping the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def run(*args, stdin=None, timeout=60):
    proc = subprocess.run([sys.executable, "-m", "archlang", *args], capture_output=True, text=True,
                          stdin=stdin, timeout=timeout, preexec_fn=_limit_memory)
    return proc.returncode, proc.stdout, proc.stderr


def usage_error(args, capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert "error: " in captured.err
    return captured.err


# ---------------------------------------------------------------- command-line numbers


@pytest.mark.parametrize("value", ["0", "-1"])
@pytest.mark.parametrize("command", ["check", "compile"])
def test_max_nodes_must_be_positive(command, value, capsys, tmp_path):
    extra = ["-o", str(tmp_path / "m.py")] if command == "compile" else []
    err = usage_error([command, "lenet5", "--max-nodes", value, *extra], capsys)
    assert "--max-nodes" in err and "at least 1" in err
    assert not (tmp_path / "m.py").exists()


def test_seed_out_of_range_is_a_usage_error(capsys, tmp_path):
    err = usage_error(["compile", "lenet5", "-o", str(tmp_path / "m.onnx"), "--seed", str(2**70)], capsys)
    assert "--seed" in err


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize("command, suffix", [("compile", ".onnx"), ("compile", ".py"), ("compile", ".pt2"),
                                             ("render", ".png"), ("render", ".svg"), ("render", ".dot")])
def test_output_naming_a_directory_is_a_usage_error(command, suffix, capsys, tmp_path):
    folder = tmp_path / f"adir{suffix}"
    folder.mkdir()
    err = usage_error([command, "lenet5", "-o", str(folder)], capsys)
    assert f"{folder} is a directory" in err
    assert folder.is_dir() and list(tmp_path.iterdir()) == [folder]


def test_write_atomic_refuses_a_directory(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        write_atomic(tmp_path, b"x")


@pytest.mark.parametrize("out", ["/proc/x.dot", "/sys/x.dot", "/dev/x.dot", "bad\0name.dot", "n" * 300 + ".dot"])
def test_unusable_output_paths_are_usage_errors(out, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = usage_error(["render", "lenet5", "-o", out], capsys)
    assert len(err) < 500  # a long name is shortened in the message
    assert list(tmp_path.iterdir()) == []


def test_a_long_legal_output_name_works(tmp_path):
    target = tmp_path / ("n" * 250 + ".dot")
    write_atomic(target, b"digraph {}")
    assert target.read_bytes() == b"digraph {}" and list(tmp_path.iterdir()) == [target]


def test_output_through_a_symlink_replaces_the_file_it_points_to(tmp_path):
    real = tmp_path / "real.dot"
    real.write_bytes(b"old")
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_output_through_a_symlink_to_something_else_is_refused(kind, tmp_path):
    other = tmp_path / "other"
    os.mkfifo(other) if kind == "fifo" else other.mkdir()
    link = tmp_path / "link.dot"
    link.symlink_to(other)
    with pytest.raises(OutputError, match="not a regular file|is a directory"):
        write_atomic(link, b"new")
    assert link.is_symlink() and (other.is_fifo() if kind == "fifo" else other.is_dir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.dot", "other"]


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from archlang.output import write_atomic

        def slow(tmp):
            with open(tmp, "wb") as f:
                f.write(b"x" * 1_000_000)
                f.flush()
                print("writing", flush=True)
                time.sleep(60)

        write_atomic(sys.argv[1], slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "model.onnx")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "writing\n"
        assert any(p.name.endswith(".tmp.onnx") for p in tmp_path.iterdir())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_signal_handler_is_restored_after_a_write(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    write_atomic(tmp_path / "a.dot", b"x")
    assert signal.getsignal(signal.SIGTERM) is before


# ---------------------------------------------------------------- the last resort


def test_an_unexpected_exception_is_an_internal_error_without_traceback(capsys, monkeypatch):
    def boom(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(check_cli, "_check", boom)
    monkeypatch.delenv("ARCHLANG_DEBUG", raising=False)
    assert main(["check", "lenet5"]) == 3
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "archlang: internal error: ZeroDivisionError: boom"
    assert "archlang check lenet5" in err and "report" in err and "Traceback" not in err


def test_archlang_debug_shows_the_traceback(monkeypatch):
    def boom(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(check_cli, "_check", boom)
    monkeypatch.setenv("ARCHLANG_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["check", "lenet5"])


def test_exit_status_3_is_documented():
    assert "3 internal error" in " ".join(cli.__doc__.split())


@pytest.mark.parametrize("json_", [False, True], ids=["table", "json"])
def test_a_closed_pipe_ends_quietly(json_, tmp_path):
    """`archlang check big | head -c 100`: over 64 KiB of output, so the write must meet the
    closed pipe, whether rich (the table) or print (JSON) writes it."""
    spec = tmp_path / "long.arch"
    spec.write_text("network n : 8 = (fc(8) -> relu) * 600\n")
    proc = subprocess.Popen([sys.executable, "-m", "archlang", "check", str(spec), *(["--json"] if json_ else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        assert os.read(proc.stdout.fileno(), 100)
        proc.stdout.close()
        assert proc.wait(timeout=60) == 0
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
        proc.stderr.close()


# ---------------------------------------------------------------- standard input


def test_stdin_is_read_only_up_to_the_limit():
    with open(os.devnull.replace("null", "zero"), "rb") as zero:
        code, out, err = run("check", "-", stdin=zero)
    assert code == 2 and out == ""
    assert f"over the {MAX_FILE_BYTES:,}-byte limit" in err and "Traceback" not in err


def test_stdin_must_be_utf8(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"network s : 4 = fc(2)\n# \xff\n")))
    err = usage_error(["check", "-"], capsys)
    assert "<stdin> is not UTF-8 text (byte 24 on line 2)" in err


def test_stdin_text_still_works(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"network s : 4 = fc(2)\n")))
    assert main(["check", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] == 10


def test_closed_stdin_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    assert "standard input" in usage_error(["check", "-"], capsys)


# ---------------------------------------------------------------- spec paths


def _bad_path(kind: str, folder: Path) -> str:
    """A path that names no readable spec, of the given kind."""
    if kind == "nul":
        return str(folder / "a\0b.arch")
    if kind == "long":
        return str(folder / ("x" * 5000 + ".arch"))
    path = folder / f"{kind}.arch"
    if kind == "loop":
        path.symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "environ":
        path.symlink_to("/proc/self/environ")
    elif kind == "not_arch":
        (folder / "spec.txt").write_text("network n : 4 = fc(2)\n")
        path.symlink_to(folder / "spec.txt")
    return str(path)


KINDS = {"nul": "NUL", "long": "too long", "loop": "symlink loop", "fifo": "not a regular file",
         "folder": "not a regular file", "environ": "/proc", "not_arch": "not a .arch file"}


@pytest.mark.parametrize("kind", KINDS)
def test_bad_spec_paths_are_usage_errors(kind, capsys, tmp_path):
    err = usage_error(["check", _bad_path(kind, tmp_path)], capsys)
    assert KINDS[kind] in err and len(err) < 600
    assert "PATH=" not in err  # the environment never reaches a message


@pytest.mark.parametrize("kind", KINDS)
def test_bad_use_paths_point_at_the_use(kind, capsys, tmp_path):
    target = _bad_path(kind, tmp_path)
    spec = tmp_path / "main.arch"
    spec.write_text(f'network n : 4 = fc(2)\nuse "{target}"\n')
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:2:1: error: ") and KINDS[kind] in err
    assert "Traceback" not in err and "PATH=" not in err


def test_a_folder_named_like_a_bundled_network_does_not_hide_it(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lenet5").mkdir()
    assert main(["check", "lenet5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] == 61_706


def test_load_refuses_a_symlink_to_proc(tmp_path):
    with pytest.raises(SpecImportError, match="/proc"):
        load(_bad_path("environ", tmp_path))


# ---------------------------------------------------------------- memory budgets


def test_human_bytes_and_check_fits():
    from archlang import budget

    assert budget.human_bytes(8_040_080_400_000) == "8.0 TB" and budget.human_bytes(512) == "512 B"
    with pytest.raises(LimitError) as info:
        budget.check_fits(2_000_000, "the weights of n", available=1_000_000)
    assert "needs 2.0 MB" in info.value.message and "1.0 MB available" in info.value.message
    assert info.value.hint
    budget.check_fits(10, "x", available=10)
    assert budget.available_bytes() > 1 << 20
    assert set(budget.__all__) >= {"check_fits", "weight_bytes", "activation_bytes"}


def test_weight_and_activation_bytes():
    from archlang import budget

    lenet = load("lenet5").network()
    assert budget.weight_bytes(lenet) == 61_706 * 4
    assert budget.activation_bytes(lenet, 2) == 2 * (6 * 28 * 28) * 4 * 2
    bn = parse("network n : 3x8x8 = conv3x3(4) -> bn\n").network("n")
    assert budget.weight_bytes(bn) == (3 * 9 * 4 + 4 + 2 * 4) * 4 + 8 * 4 + 8  # + running mean, variance, count


@pytest.mark.parametrize("args", [["compile", "big.arch", "-o", "x.onnx"], ["compile", "big.arch", "-o", "x.pt2"],
                                  ["bench", "big.arch"], ["bench", "lenet5", "--batch", "1000000000"]])
def test_what_cannot_fit_is_refused_before_allocating(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.arch").write_text(BIG)
    code = main(args)  # in this process: had it allocated first, this test would be the one to fail
    err = capsys.readouterr().err
    assert code == 1 and "needs" in err and "available" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.arch"]


# ---------------------------------------------------------------- bundled specs by name


def test_use_a_bundled_spec_by_name(tmp_path):
    spec = tmp_path / "mine.arch"
    spec.write_text('use "vgg"\nnetwork mine : 3x32x32 = stage(64, 2) -> classifier(10)\n')
    program = load(spec)
    assert program.networks == ("mine",) and program.network().output_shape == (10,)
    assert parse('use "lenet"\nnetwork n : 4 = fc(2)\n').network("lenet5").total_params == 61_706


def test_a_local_file_is_used_when_written_with_its_suffix(tmp_path):
    (tmp_path / "vgg.arch").write_text("block stage(c, n) = fc(c)\n")
    spec = tmp_path / "mine.arch"
    spec.write_text('use "vgg.arch"\nnetwork mine : 4 = stage(3, 1)\n')
    assert load(spec).network().output_shape == (3,)


def test_use_of_an_unknown_name_lists_the_bundled_specs(capsys, tmp_path):
    spec = tmp_path / "mine.arch"
    spec.write_text('use "vgq"\nnetwork mine : 4 = fc(2)\n')
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    from archlang.resources import specs_dir

    listed = ", ".join(sorted(p.stem for p in specs_dir().glob("*.arch")))
    assert "did you mean 'vgg'?" in err and listed in err
