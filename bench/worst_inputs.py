"""The slowest specs within archlang's documented limits, each timed as a whole `check`, with
its table and with `--json`.

Goal (issue: instant feedback): no spec within the limits takes more than 2 s to check. The
limits (docs/language.md): 100,000 layers (Limits.max_nodes), repeats up to 100,000, 64 nested
blocks and 64 nested parentheses, 256 operators in an expression, 900,000 lowering steps,
210,000 tokens (Limits.max_tokens) and 1 MiB in a file. The specs are tests/worst_inputs.py's,
at these limits (each pushes one limit as far as it goes, the way a fuzzer's worst finds do;
the test counts their work at smaller limits), and two files filled to 1 MiB with the densest
text, which the token limit refuses. Prints each time (an error at a limit is a result too: it
must come as fast); asserts nothing (machines are noisy).

    .venv/bin/python bench/worst_inputs.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.worst_inputs import worst_inputs  # noqa: E402  (the repository's root on the path first)

ARCHLANG = str(Path(sys.executable).with_name("archlang"))
FILE_LIMIT = 1 << 20


def specs() -> dict[str, str]:
    found = {what: text for what, (text, _) in worst_inputs().items()}
    ones = "+".join(["1"] * 256)
    line = f"network e:3x8x8=flatten->fc({ones})\n"
    found["1 MiB of 1+1+... (a million tokens)"] = line * (FILE_LIMIT // len(line))
    chain = "->".join(["relu"] * ((FILE_LIMIT - 40) // 6))
    found["1 MiB of relu->relu->..."] = f"network n:3x8x8={chain}\n"
    return found


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def main() -> None:
    worst = 0.0
    print(f"  {'':66s} {'':>15s}  table   json")
    with tempfile.TemporaryDirectory() as folder:
        for what, text in specs().items():
            path = Path(folder) / "worst.arch"
            path.write_text(text)
            subprocess.run([ARCHLANG, "check", str(path), "--json"], capture_output=True)  # the disk cache
            table, _ = timed([ARCHLANG, "check", str(path)])
            took, proc = timed([ARCHLANG, "check", str(path), "--json"])
            worst = max(worst, table, took)
            outcome = "checked" if proc.returncode == 0 else json.loads(proc.stdout)["errors"][0]["message"][:50]
            print(f"  {what:66s} {len(text):>9,} bytes  {table:5.2f} {took:5.2f} s  {outcome}")
    print(f"worst {worst:.2f} s  (goal: every one under 2 s)")


if __name__ == "__main__":
    main()
