"""Where mailstate's time goes: start-up, imports, per-host work, round trips, apply phases.

Why: when a benchmark target is missed, the README must say by how much and what limits
it. This prints the pieces a plan/apply wall time is made of, measured the same way the
benchmark measures (fresh processes), on hosts the benchmark already wrote inventories for:

    python bench/profile.py --size 20          (lab instance 4 up, bench/results/work/*-20.*)
    python bench/profile.py --size 20 --apply  (also resets the hosts and applies, --json)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")
MAILSTATE = str(REPO / ".venv" / "bin" / "mailstate")
WORK = REPO / "bench" / "results" / "work"
# What `mailstate plan` imports, in the order it imports it.
PLAN_IMPORTS = ("mailstate.cli, mailstate.commands.plan, mailstate.inventory, "
                "mailstate.transport.ssh, mailstate.engine.plan, mailstate.views, "
                "mailstate.progress")
GROUPS = ("mailstate.model", "paramiko", "invoke", "cryptography", "pydantic", "yaml", "rich",
          "mailstate.formats", "mailstate.engine")


def wall(argv: list[str], best_of: int = 3) -> float:
    times = []
    for _ in range(best_of):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def import_times(code: str) -> dict[str, float]:
    """Cumulative ms of each top-level group, from `python -X importtime` (best of 3)."""
    best: dict[str, float] = {}
    for _ in range(3):
        err = subprocess.run([PYTHON, "-X", "importtime", "-c", code], capture_output=True,
                             text=True, check=False).stderr
        seen: dict[str, float] = {}
        total = 0.0
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| \s*(\S+)", line)
            if not m:
                continue
            self_us, cumulative, name = int(m[1]), int(m[2]), m[3]
            total += self_us
            for group in GROUPS:
                if name == group or name.startswith(group + "."):
                    # the outermost import of a group has the largest cumulative time
                    seen[group] = max(seen.get(group, 0.0), cumulative / 1000)
        seen["TOTAL"] = total / 1000
        for key, value in seen.items():
            best[key] = min(best.get(key, value), value)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=20)
    p.add_argument("--apply", action="store_true", help="reset, then apply with --json")
    p.add_argument("--instance", type=int, default=4)
    args = p.parse_args(argv)
    inventory = WORK / f"mailstate-{args.size}.yaml"

    print(f"python -c pass:                 {wall([PYTHON, '-c', 'pass']) * 1000:6.0f} ms")
    print(f"python -c 'import paramiko':    "
          f"{wall([PYTHON, '-c', 'import paramiko']) * 1000:6.0f} ms")
    print(f"mailstate --help:               {wall([MAILSTATE, '--help']) * 1000:6.0f} ms")
    times = import_times(f"import {PLAN_IMPORTS}")
    print("imports of `mailstate plan` (python -X importtime, cumulative ms, best of 3):")
    for name in (*GROUPS, "TOTAL"):
        if name in times:
            print(f"  {name:22} {times[name]:6.0f} ms")

    out = subprocess.run([MAILSTATE, "plan", "--json", "-i", str(inventory)], capture_output=True,
                         text=True, check=False, cwd=WORK).stdout
    hosts = json.loads(out)["hosts"]
    secs = [h["seconds"] for h in hosts]
    trips = sorted({h.get("round_trips") for h in hosts}, key=str)
    print(f"plan, {len(hosts)} hosts: per-host seconds median {statistics.median(secs):.2f}, "
          f"max {max(secs):.2f}; round trips per host {trips}")
    print(f"plan wall (fresh process, best of 3): "
          f"{wall([MAILSTATE, 'plan', '-i', str(inventory)]):.2f} s")

    if args.apply:
        sys.path.insert(0, str(REPO))
        from mailstate.lab import Lab

        Lab(args.instance).reset([f"h{n}" for n in range(1, args.size + 1)])
        start = time.perf_counter()
        out = subprocess.run([MAILSTATE, "apply", "--yes", "--json", "-i", str(inventory)],
                             capture_output=True, text=True, check=False, cwd=WORK).stdout
        took = time.perf_counter() - start
        hosts = json.loads(out)["hosts"]
        print(f"apply wall {took:.2f} s; {len(hosts)} hosts, round trips "
              f"{sorted({h['round_trips'] for h in hosts})}, per-host seconds median "
              f"{statistics.median(h['seconds'] for h in hosts):.2f}")
        keys = sorted({k for h in hosts for k in h["host_timings_ms"]},
                      key=lambda k: statistics.median(h["host_timings_ms"].get(k, 0)
                                                      for h in hosts))
        print("apply milestones, ms since the step started (median over hosts):")
        for key in keys:
            values = [h["host_timings_ms"][key] for h in hosts if key in h["host_timings_ms"]]
            print(f"  {key:22} {statistics.median(values):6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
