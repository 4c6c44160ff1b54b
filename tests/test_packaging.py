"""The wheel ships the grammar and the bundled specs inside the package, and works from there."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_grammar_and_specs(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("archlang-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "archlang/grammars/arch.lark" in names
    for spec in ("lenet.arch", "mlp.arch", "vgg.arch", "resnet.arch"):
        assert f"archlang/specs/{spec}" in names
    # the installed layout (data inside the package) must load on its own
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = "import archlang; print(archlang.__file__); print(archlang.load('resnet18').network().total_params)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
        capture_output=True, text=True, check=True,
    ).stdout
    where, params = out.split()
    assert Path(where).is_relative_to(tmp_path / "site")
    assert params == "11689512"
