"""Benchmark of ``yilian.synth``: resources per second, wall time and peak memory.

Each size runs in its own process (so peak RSS is that run's alone) into a
temporary directory that is removed afterwards, with a time limit::

    .venv/bin/python bench/synth_bench.py                       # 100,000 × 365 and 20,000 × 365
    .venv/bin/python bench/synth_bench.py --size 5000x90 --size 20000x90

It prints a Markdown table for docs/benchmarks.md. Peak RSS is the largest of the
parent and its worker processes; flat memory shows as the same peak at both sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _one(residents: int, days: int, workers: int | None, seed: int) -> dict[str, object]:
    """Run one generation in this process and report on it."""
    from yilian.synth.generate import generate

    with tempfile.TemporaryDirectory(prefix="yilian-synth-bench-") as tmp:
        cpu0 = os.times()
        t0 = time.perf_counter()
        result = generate(Path(tmp) / "out", residents=residents, days=days, seed=seed,
                          workers=workers)  # fmt: skip
        wall = time.perf_counter() - t0
        cpu1 = os.times()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system
           + cpu1.children_user - cpu0.children_user
           + cpu1.children_system - cpu0.children_system)  # fmt: skip
    return {
        "residents": residents,
        "days": days,
        "workers": workers or os.cpu_count(),
        "resources": result.resources,
        "bundles": result.bundles,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "resources_per_s": round(result.resources / wall),
        "peak_rss_mb": round(max(own, kids) / 1024),
        "output_mb": round(size / 2**20),
        "phases_s": {k: round(v, 1) for k, v in result.phases.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", action="append", help="RESIDENTSxDAYS (repeatable)")
    ap.add_argument("--workers", type=int, default=None, help="default: one per CPU")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600, help="seconds per size")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        residents, days = (int(x) for x in args.one.split("x"))
        print(json.dumps(_one(residents, days, args.workers, args.seed)))
        return
    sizes = args.size or ["100000x365", "20000x365"]
    python = platform.python_version()
    print(f"machine: {os.cpu_count()} CPUs (nproc), {_cpu_model()}, Python {python}")
    print()
    print(
        "| residents × days | workers | resources | bundles | wall s | CPU s | resources/s "
        "| peak RSS MB | output MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        cmd = [sys.executable, __file__, "--one", size, "--seed", str(args.seed)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=True
            )
        except subprocess.TimeoutExpired:
            print(f"| {size} | — | timed out after {args.timeout:.0f} s |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {r['residents']:,} × {r['days']} | {r['workers']} | {r['resources']:,} "
              f"| {r['bundles']:,} | {r['wall_s']} | {r['cpu_s']} | {r['resources_per_s']:,} "
              f"| {r['peak_rss_mb']} | {r['output_mb']:,} |", flush=True)  # fmt: skip
        print(f"<!-- phases: {r['phases_s']} -->", flush=True)


if __name__ == "__main__":
    main()
