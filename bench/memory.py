"""Checking a network of 100 billion parameters allocates no weights: the analysis of such a
network must stay under 200 MB of memory (issue: hostile input). Runs the check in a fresh
process and reports its peak resident memory next to a bare `import archlang`.

    .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import subprocess
import sys

SPEC = """
block wide(c) = conv3x3(c) -> relu
network giant : 3x64x64 =
    wide(4096) -> wide(4096) -> maxpool -> flatten      # 4096 x 32 x 32 = 4,194,304 features
    -> fc(24000) -> relu -> fc(1000)                     # 100.6 billion weights in the first fc
"""

PROBE = """
import resource, sys
import archlang
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
net = archlang.parse(sys.stdin.read()).network("giant")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(net.total_params, before, after)
"""


def main() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], input=SPEC, capture_output=True, text=True, check=True).stdout
    params, before, after = (int(v) for v in out.split())
    print(f"network giant: {params:,} parameters ({params * 4 / 2**30:,.0f} GiB of float32 weights if allocated)")
    print(f"peak memory: {before / 1024:.1f} MB after import archlang, {after / 1024:.1f} MB after the analysis"
          f"  (goal < 200 MB)")


if __name__ == "__main__":
    main()
