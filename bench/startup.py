"""How long a whole `archlang` process takes, beside Python's own start-up and torchinfo's.

Goals (issue: instant feedback): `import archlang` under 50 ms and `archlang check resnet152
--json` under 150 ms as whole processes, median of 10, on this machine; Python's bare start-up
(`python -c pass`) is the floor, and torchinfo's summary of the same network (a hand-written
torchvision ResNet-152 from tests/reference_models.py, its whole process: importing torch,
building the model, the forward pass torchinfo runs) is what a user would run otherwise. The
package's modules are compiled to bytecode first, as installing it does (this machine sets
PYTHONDONTWRITEBYTECODE, so an edited module would otherwise be compiled in every run).
Prints the figures; asserts nothing (machines are noisy).

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
ARCHLANG = str(Path(sys.executable).with_name("archlang"))
RUNS = 10

TORCHINFO = (
    "import sys; sys.path.insert(0, 'tests')\n"
    "import torchinfo\n"
    "from reference_models import Bottleneck, ResNet\n"
    "torchinfo.summary(ResNet(Bottleneck, [3, 8, 36, 3]), (1, 3, 224, 224))\n"
)


def median_ms(args: list[str], runs: int = RUNS) -> float:
    subprocess.run(args, capture_output=True, check=True, cwd=ROOT)  # the disk cache warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    compileall.compile_dir(ROOT / "archlang", quiet=1)
    rows = [
        ("python -c pass", median_ms([PYTHON, "-c", "pass"]), None),
        ("python -c 'import archlang'", median_ms([PYTHON, "-c", "import archlang"]), 50),
        ("archlang check resnet152 --json", median_ms([ARCHLANG, "check", "resnet152", "--json"]), 150),
        ("archlang check resnet152 (table)", median_ms([ARCHLANG, "check", "resnet152"]), None),
        ("torchinfo.summary(resnet152)", median_ms([PYTHON, "-c", TORCHINFO], runs=5), None),
    ]
    floor = rows[0][1]
    print(f"whole processes, median of {RUNS} (torchinfo: of 5)")
    for what, ms, goal in rows:
        over = f"  +{ms - floor:5.0f} ms over python" if what != rows[0][0] else ""
        target = f"  (goal < {goal} ms)" if goal else ""
        print(f"  {what:34s} {ms:7.0f} ms{over}{target}")
    print(f"  torchinfo / archlang check      {rows[4][1] / rows[2][1]:7.1f} x")


if __name__ == "__main__":
    main()
