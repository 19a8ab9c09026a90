"""Start-up, side by side: whole-process wall time of the same command from several trees.

Why: a start-up change is a few tens of milliseconds on a machine whose timings drift by
10-30 % from one minute to the next, so "before" and "after" must be measured in the same
minutes, interleaved, several times, and compared by their medians. Each tree is a copy
of the `mailstate/` package (e.g. `git archive BASE mailstate | tar -x -C /tmp/base`),
run with this checkout's venv and byte-compiled first (like an installed package).

    python bench/startup.py --tree base=/tmp/base --runs 15           # plan + no-op apply
    python bench/startup.py --tree base=/tmp/base -- plan -i INV      # any command

(bench/timeline.py shows when each phase of one run starts.)
The default commands use the benchmark's 3-host inventory (bench/results/work/, written by
`./run bench --keep-lab`). The apply is measured as a no-op: converge the hosts once
first (`mailstate apply --yes -i INV`), and the plan then measures a plan with no changes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")
WORK = REPO / "bench" / "results" / "work"
# Runs `mailstate` from the tree on sys.argv[1], not the venv's editable install, the way
# that tree's console script does (`entry`, or `main` before it existed).
LAUNCH = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
          "if 'Editable' not in getattr(f, '__name__', '')]; "
          "sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'mailstate'; "
          "import mailstate.cli as cli; "
          "cli.entry() if hasattr(cli, 'entry') else sys.exit(cli.main())")


def run_once(tree: Path, argv: list[str], codes: set[int]) -> float:
    env = dict(os.environ, NO_COLOR="1", TERM="dumb")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", LAUNCH, str(tree), *argv], cwd=WORK, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    codes.add(proc.returncode)
    return time.perf_counter() - start


def compare(trees: dict[str, Path], commands: list[list[str]], runs: int) -> None:
    for tree in trees.values():
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(tree / "mailstate")],
                       stdout=subprocess.DEVNULL, check=False,
                       env={k: v for k, v in os.environ.items()
                            if k != "PYTHONDONTWRITEBYTECODE"})
    print(f"load before: {os.getloadavg()[0]:.2f} (1-minute average)")
    for argv in commands:
        times: dict[str, list[float]] = {name: [] for name in trees}
        codes: dict[str, set[int]] = {name: set() for name in trees}
        run_once(next(iter(trees.values())), argv, set())  # warm the page cache
        for _ in range(runs):
            for name, tree in trees.items():  # interleaved: the same minutes for each
                times[name].append(run_once(tree, argv, codes[name]))
        print(f"\n$ mailstate {' '.join(argv)}   ({runs} runs each, interleaved)")
        first = statistics.median(next(iter(times.values())))
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:10} median {median * 1000:6.0f} ms   min {min(values) * 1000:6.0f}"
                  f"   max {max(values) * 1000:6.0f}   ({median / first:.2f}x the first)"
                  f"   exit {','.join(map(str, sorted(codes[name])))}")
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                   help="a directory holding a mailstate/ package to compare (repeatable); "
                        "this checkout is always measured, as `now`")
    p.add_argument("--runs", type=int, default=10, help="runs per tree and command")
    p.add_argument("--size", type=int, default=3, help="the bench inventory (default 3 hosts)")
    p.add_argument("command", nargs="*", help="mailstate arguments (after --)")
    args = p.parse_args(argv)
    inventory = str(WORK / f"mailstate-{args.size}.yaml")
    commands = [args.command] if args.command else [
        ["plan", "-i", inventory], ["apply", "--yes", "-i", inventory]]
    trees = {name: Path(path).resolve() for name, path in
             (spec.split("=", 1) for spec in args.tree)}
    compare({**trees, "now": REPO}, commands, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
