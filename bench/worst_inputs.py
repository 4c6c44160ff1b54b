"""The slowest specs within archlang's documented limits, each timed as a whole `check`.

Goal (issue: instant feedback): no spec within the limits takes more than 2 s to check. The
limits (docs/language.md): 100,000 layers (Limits.max_nodes), repeats up to 100,000, 64 nested
blocks and 64 nested parentheses, 256 operators in an expression, 1.7 million lowering steps,
a 1 MiB file. The inputs here push one limit each as far as it goes, the way a fuzzer's worst
finds do: a repeat at the layer limit, repeats of identity at the step limit, blocks doubling
16 levels deep, a concat as wide as the layer limit allows in a file, expressions at the
operator limit filling the file, and a written-out chain filling the file. Prints each time
(an error at a limit is a result too: it must come as fast); asserts nothing (machines are
noisy).

    .venv/bin/python bench/worst_inputs.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCHLANG = str(Path(sys.executable).with_name("archlang"))
FILE_LIMIT = 1 << 20


def specs() -> dict[str, str]:
    doubling = ["block b0 = relu"] + [f"block b{i} = b{i - 1} -> b{i - 1}" for i in range(1, 17)]
    expression = " + ".join(["1"] * 256)  # 256 operators: the limit
    sums = "".join(f"network e{i} : 3x8x8 = flatten -> fc({expression})\n"
                   for i in range(FILE_LIMIT // (len(expression) + 50)))
    chain = " -> ".join(["relu"] * ((FILE_LIMIT - 40) // 8))
    return {
        "relu * 100000 (the layer limit)": "network n : 3x8x8 = relu * 100000\n",
        "(identity * 100000) * 100000 (the step limit)": "network n : 3x8x8 = (identity * 100000) * 100000\n",
        "blocks doubling 16 deep (65,536 layers)": "\n".join(doubling) + "\nnetwork n : 3x8x8 = b16\n",
        "concat of 50,000 branches": "network n : 3x8x8 = concat(" + " | ".join(["relu"] * 50_000) + ")\n",
        "256-operator expressions filling 1 MiB": sums,
        "a chain written out filling 1 MiB": f"network n : 3x8x8 = {chain}\n",
    }


def main() -> None:
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for what, text in specs().items():
            path = Path(folder) / "worst.arch"
            path.write_text(text)
            t0 = time.perf_counter()
            proc = subprocess.run([ARCHLANG, "check", str(path), "--json"], capture_output=True, text=True)
            took = time.perf_counter() - t0
            worst = max(worst, took)
            outcome = "checked" if proc.returncode == 0 else (proc.stderr.splitlines() or ["?"])[0].split("error: ")[-1][:60]
            print(f"  {what:48s} {len(text):>9,} bytes  {took:6.2f} s  {outcome}")
    print(f"worst {worst:.2f} s  (goal: every one under 2 s)")


if __name__ == "__main__":
    main()
