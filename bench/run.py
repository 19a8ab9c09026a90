"""mailstate vs Ansible vs pyinfra on the same lab hosts, in one run: `./run bench`.

Why: issue 7 says mailstate must be the fastest way to plan and apply mail config over
SSH, proven side by side with the tools users would pick instead. This script brings up
lab hosts (instance 4 by default), installs ansible-core and pyinfra into bench/.venv,
and for each size N times, as fresh processes the way a user runs them:

  plan   on stock hosts: mailstate plan | ansible-playbook --check --diff | pyinfra --dry --diff
  apply  from stock:     mailstate apply --yes | ansible-playbook | pyinfra -y
  no-op  on converged:   the same apply again
  floor  bare paramiko loop: connect + one exec returning the managed files (bench/floor.py)

Hosts are reset to stock (`Lab.reset`) before each tool. After Ansible's and pyinfra's
apply, `mailstate plan` must find nothing to change: that is the proof the three tools
made the same edits (bench/README.md). Results: a table on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
VENV = BENCH / ".venv"
RESULTS = BENCH / "results"
WORK = RESULTS / "work"
LOGS = RESULTS / "logs"
MAILSTATE = REPO / ".venv" / "bin" / "mailstate"
PYTHON = REPO / ".venv" / "bin" / "python"
REQUIREMENTS = ("ansible-core>=2.19,<2.20", "pyinfra>=3.10,<4")
TOOLS = ("mailstate", "ansible", "pyinfra", "pyinfra-dropin")
# pyinfra twice: deploy.py mirrors mailstate edit by edit; deploy_dropin.py is the short
# form a pyinfra user writes first (a Dovecot drop-in, one master.cf block, ~8 operations).
DEPLOYS = {"pyinfra": "deploy.py", "pyinfra-dropin": "deploy_dropin.py"}
WORKS = ("plan", "apply", "noop")
# Debian 12 for every host: the Ansible and pyinfra forms write Dovecot 2.3 names, which a
# Debian 13 host (Dovecot 2.4) refuses; a lab left mixed by --keep-lab is rebuilt.
RELEASE = "bookworm"
MAILSTATE_FORKS = 50  # mailstate's default --forks; the floor uses the same pool size

sys.path.insert(0, str(REPO))


@dataclass
class Timing:
    """One timed command."""

    size: int
    tool: str
    work: str
    seconds: float | None = None
    rc: int | None = None
    max_rss_kb: int = 0
    cpu_seconds: float = 0.0  # user + system of the process and its waited-for children
    ok: bool = False
    note: str = ""
    log: str = ""


@dataclass
class Run:
    """Everything one benchmark run measured."""

    started: str
    sizes: list[int]
    tools: list[str]
    versions: dict[str, str] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)
    equivalent: dict[str, bool] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)

    def get(self, size: int, tool: str, work: str) -> Timing | None:
        for t in self.timings:
            if (t.size, t.tool, t.work) == (size, tool, work):
                return t
        return None

    def seconds(self, size: int, tool: str, work: str) -> float | None:
        t = self.get(size, tool, work)
        return t.seconds if t and t.ok else None


# -- setup ----------------------------------------------------------------------------
def ensure_venv() -> None:
    """bench/.venv with ansible-core and pyinfra, apart from mailstate's own venv."""
    stamp = VENV / ".bench-installed"
    wanted = "\n".join(REQUIREMENTS)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (VENV / "bin" / "python").exists():
        print(f"== creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print(f"== installing {', '.join(REQUIREMENTS)} into {VENV}", flush=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    *REQUIREMENTS, "PyYAML"], check=True)
    stamp.write_text(wanted)


def versions() -> dict[str, str]:
    def out(argv: list[str]) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 \
            else "?"
    return {"ansible": out([str(VENV / "bin" / "ansible-playbook"), "--version"]),
            "pyinfra": out([str(VENV / "bin" / "pyinfra"), "--version"]),
            "python": out([str(PYTHON), "--version"]),
            "paramiko": out([str(PYTHON), "-c", "import paramiko; print(paramiko.__version__)"])}


# -- inventories ----------------------------------------------------------------------
def write_inventories(lab: Any, size: int) -> dict[str, Path]:
    """The same N hosts, keys and known_hosts for each tool."""
    WORK.mkdir(parents=True, exist_ok=True)
    hosts = [lab.host(n) for n in range(1, size + 1)]
    key, known = str(lab.key_path), str(lab.known_hosts_path)
    paths = {name: WORK / f"{name}-{size}.{ext}" for name, ext in
             (("mailstate", "yaml"), ("ansible", "yaml"), ("pyinfra", "py"), ("floor", "json"))}
    paths["pyinfra-dropin"] = paths["pyinfra"]
    # mail_hostname: the name on each lab host's certificate (the hardened profile checks
    # Roundcube's peer name against it); the other tools get it too, as a host variable
    paths["mailstate"].write_text(json.dumps({"all": {
        "hosts": {h.name: {"ansible_host": h.address, "ansible_port": 22,
                           "mail_hostname": h.fqdn} for h in hosts},
        "vars": {"ansible_user": "root", "ansible_ssh_private_key_file": key,
                 "mailstate_known_hosts_file": known,
                 "mailstate_states": [str(REPO / "states" / "hardened.yaml")]}}},
        indent=1))
    paths["ansible"].write_text(json.dumps({"all": {
        "hosts": {h.name: {"ansible_host": h.address, "mail_hostname": h.fqdn}
                  for h in hosts},
        "vars": {"ansible_user": "root", "ansible_port": 22,
                 "ansible_ssh_private_key_file": key,
                 "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} "
                                            "-o StrictHostKeyChecking=yes"}}}, indent=1))
    data = {"ssh_user": "root", "ssh_port": 22, "ssh_key": key,
            "ssh_known_hosts_file": known, "ssh_strict_host_key_checking": "yes"}
    pyinfra_hosts = [(h.name, {"ssh_hostname": h.address, "mail_hostname": h.fqdn, **data})
                     for h in hosts]
    paths["pyinfra"].write_text(
        '"""pyinfra inventory of the benchmark\'s lab hosts (written by bench/run.py)."""\n'
        f"hosts = {pyinfra_hosts!r}\n")
    paths["floor"].write_text(json.dumps(
        [{"name": h.name, "address": h.address, "port": 22, "user": "root", "key_file": key,
          "known_hosts_file": known} for h in hosts], indent=1))
    return paths


# -- commands -------------------------------------------------------------------------
def commands(tool: str, work: str, inventory: Path, size: int) -> tuple[list[str], Path]:
    """argv and working directory of one tool doing one kind of work."""
    if tool == "mailstate":
        sub = ["plan"] if work == "plan" else ["apply", "--yes"]
        return [str(MAILSTATE), *sub, "-i", str(inventory)], WORK
    if tool == "ansible":
        check = ["--check", "--diff"] if work == "plan" else []
        return [str(VENV / "bin" / "ansible-playbook"), "-i", str(inventory), "-f", str(size),
                *check, "hardened.yml"], BENCH / "ansible"
    if tool in DEPLOYS:
        mode = ["--dry", "--diff"] if work == "plan" else ["-y"]
        return [str(VENV / "bin" / "pyinfra"), str(inventory), DEPLOYS[tool], "--parallel",
                str(size), *mode], BENCH / "pyinfra"
    raise ValueError(tool)


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(BENCH / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(WORK / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(WORK / "ansible-home" / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(WORK / "ansible-home" / "cp"),
        "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1", "TERM": "dumb",
    })
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' installs have .pyc files; so do we
    return env


CPU_SECONDS: dict[str, float] = {}  # log path -> CPU seconds of the last run logged there


def timed(argv: list[str], cwd: Path, log: Path, timeout: float) -> tuple[float, int, int]:
    """Wall seconds, exit code and peak RSS (KB) of one fresh process.

    Peak RSS is the process's own high-water mark (VmHWM), read while it runs: the
    rusage figure counts this script's own memory too (a child started by vfork reports
    the parent's RSS from before its exec, and this script holds ~140 MB once it has
    started 100 lab hosts)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = 0
    with open(log, "wb") as out:
        out.write(f"$ cd {cwd} && {shlex.join(argv)}\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=tool_env())
        deadline = start + timeout
        while True:
            peak = max(peak, _high_water_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    CPU_SECONDS[str(log)] = round(usage.ru_utime + usage.ru_stime, 3)
    return seconds, proc.returncode, peak or usage.ru_maxrss


def _high_water_kb(pid: int) -> int:
    """VmHWM of a running process (0 once it is gone or before it has exec'd)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


EXPECTED = {("mailstate", "plan"): (2,), ("mailstate", "apply"): (0,),
            ("mailstate", "noop"): (0,)}


def measure(run: Run, size: int, tool: str, work: str, inventory: Path,
            args: argparse.Namespace, reset: Any = None) -> Timing:
    """Best of --repeat runs (`reset` puts the hosts back before each repeat of apply)."""
    argv, cwd = commands(tool, work, inventory, size)
    log = LOGS / f"{size:03d}-{tool}-{work}.log"
    seconds, rc, rss = timed(argv, cwd, log, args.timeout)
    for i in range(2, args.repeat + 1):
        if rc not in EXPECTED.get((tool, work), (0,)):
            break
        if reset is not None:
            reset()
        again = timed(argv, cwd, log.with_suffix(f".{i}.log"), args.timeout)
        if again[1] != rc:
            seconds, rc, rss = again
            break
        seconds, rss = min(seconds, again[0]), max(rss, again[2])
    ok = rc in EXPECTED.get((tool, work), (0,))
    note = "" if ok else f"exit {rc}, see {log.relative_to(REPO)}"
    if ok and tool in DEPLOYS and work == "noop":
        ok, note = noop_check_pyinfra(log)
    if ok and tool == "ansible" and work == "noop":
        ok, note = noop_check_ansible(log)
    timing = Timing(size, tool, work, round(seconds, 3), rc, rss, CPU_SECONDS[str(log)], ok,
                    note, str(log.relative_to(REPO)))
    run.timings.append(timing)
    status = "ok" if ok else f"FAILED ({note})"
    print(f"   {tool:9} {work:5} {seconds:7.2f} s  {status}", flush=True)
    return timing


def noop_check_ansible(log: Path) -> tuple[bool, str]:
    text = log.read_text(errors="replace")
    bad = [line for line in text.splitlines() if " changed=" in line and " changed=0 " not in line]
    return (not bad, "" if not bad else f"not a no-op: {bad[0].split()[0]} changed")


def noop_check_pyinfra(log: Path) -> tuple[bool, str]:
    text = log.read_text(errors="replace")
    for line in text.splitlines():
        if line.strip().startswith("Grand total"):
            cols = line.split()
            success = cols[3] if len(cols) > 3 else "-"
            return (success == "-", "" if success == "-" else f"not a no-op: {success} changed")
    return True, ""


def floor(run: Run, size: int, hosts_json: Path, repeat: int) -> Timing:
    forks = min(MAILSTATE_FORKS, size)
    log = LOGS / f"{size:03d}-floor.log"
    argv = [str(PYTHON), str(BENCH / "floor.py"), str(hosts_json), "-f", str(forks)]
    seconds, rc, rss = timed(argv, WORK, log, 300)
    for _ in range(repeat - 1):
        again = timed(argv, WORK, log, 300)
        seconds, rc = (again[0], again[1]) if again[1] == 0 and again[0] < seconds else (
            seconds, rc)
    timing = Timing(size, "paramiko", "floor", round(seconds, 3), rc, rss, CPU_SECONDS[str(log)],
                    rc == 0, "" if rc == 0 else f"exit {rc}", str(log.relative_to(REPO)))
    run.timings.append(timing)
    print(f"   {'paramiko':9} floor {seconds:7.2f} s  {'ok' if rc == 0 else 'FAILED'}",
          flush=True)
    return timing


def equivalence(run: Run, size: int, tool: str, inventory: Path) -> bool:
    """After another tool's apply, mailstate must find nothing to change."""
    log = LOGS / f"{size:03d}-{tool}-equivalence.log"
    _, rc, _ = timed([str(MAILSTATE), "plan", "-i", str(inventory)], WORK, log, 300)
    same = rc == 0
    run.equivalent[f"{tool}@{size}"] = same
    print(f"   {tool:9} => mailstate plan after it: "
          f"{'no changes (same end state)' if same else f'exit {rc}: DIFFERS, see {log}'}",
          flush=True)
    return same


# -- the run --------------------------------------------------------------------------
def bench_size(run: Run, lab: Any, size: int, tools: list[str], args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    lab.up(size, mail=True, releases=RELEASE)
    names = [f"h{n}" for n in range(1, size + 1)]
    print(f"\n== {size} hosts (lab instance {lab.instance} up in "
          f"{time.perf_counter() - t0:.1f} s)", flush=True)
    inv = write_inventories(lab, size)
    floor(run, size, inv["floor"], args.repeat)
    for tool in tools:
        lab.reset(names)
        plan = measure(run, size, tool, "plan", inv[tool], args)
        if tool == "mailstate" and size >= 100:
            floor(run, size, inv["floor"], args.repeat)  # again, next to mailstate plan
        if tool != "mailstate" and size > args.apply_max:
            for work in ("apply", "noop"):
                run.timings.append(Timing(size, tool, work, note=f"skipped (> {args.apply_max} "
                                                                 "hosts, --apply-max)"))
            continue
        if not plan.ok and tool != "mailstate":
            continue
        apply = measure(run, size, tool, "apply", inv[tool], args,
                        reset=lambda: lab.reset(names))
        if apply.ok and tool != "mailstate":
            equivalence(run, size, tool, inv["mailstate"])
        if apply.ok:
            measure(run, size, tool, "noop", inv[tool], args)
    lab.reset(names)


# -- report ---------------------------------------------------------------------------
def fmt(seconds: float | None, timing: Timing | None = None) -> str:
    if seconds is not None:
        return f"{seconds:.2f} s"
    if timing is not None and timing.note.startswith("skipped"):
        return "skipped"
    return "failed" if timing is not None else "-"


def ratio(other: float | None, ours: float | None) -> str:
    return f"{other / ours:.1f}x" if other and ours else "-"


def best_floor(run: Run, size: int) -> float | None:
    values = [t.seconds for t in run.timings
              if (t.size, t.work) == (size, "floor") and t.ok and t.seconds]
    return min(values) if values else None


def table(run: Run) -> str:
    head = ("hosts", "work", "mailstate", "ansible", "pyinfra", "pyinfra-dropin", "vs ansible",
            "vs pyinfra", "vs dropin")
    rows: list[tuple[str, ...]] = []
    for size in run.sizes:
        for work in WORKS:
            cells = {tool: run.get(size, tool, work) for tool in TOOLS}
            if not any(cells.values()):
                continue
            ours = run.seconds(size, "mailstate", work)
            rows.append((str(size), "no-op" if work == "noop" else work,
                         *(fmt(run.seconds(size, tool, work), cells[tool]) for tool in TOOLS),
                         ratio(run.seconds(size, "ansible", work), ours),
                         ratio(run.seconds(size, "pyinfra", work), ours),
                         ratio(run.seconds(size, "pyinfra-dropin", work), ours)))
        low = best_floor(run, size)
        ours = run.seconds(size, "mailstate", "plan")
        multiple = f"plan = {ours / low:.2f}x floor" if ours and low else ""
        rows.append((str(size), "floor", fmt(low), "", "", "", multiple, "", ""))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in
                       enumerate(zip(row, widths, strict=True))).rstrip()
             for row in (head, *rows)]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def targets(run: Run) -> list[dict[str, Any]]:
    """The issue's targets, each met, missed, or not measured in this run."""
    out: list[dict[str, Any]] = []

    def check(name: str, value: float | None, goal: float, higher_is_better: bool,
              unit: str) -> None:
        met = None if value is None else (value >= goal if higher_is_better else value <= goal)
        out.append({"target": name, "value": None if value is None else round(value, 2),
                    "goal": goal, "unit": unit, "met": met})

    def speedup(size: int, other: str, work: str) -> float | None:
        ours, theirs = run.seconds(size, "mailstate", work), run.seconds(size, other, work)
        return theirs / ours if ours and theirs else None

    for size in (s for s in run.sizes if s in (3, 20)):
        check(f"plan {size} hosts: >= 20x faster than Ansible",
              speedup(size, "ansible", "plan"), 20, True, "x")
        for form in DEPLOYS:
            check(f"plan {size} hosts: >= 4x faster than {form}",
                  speedup(size, form, "plan"), 4, True, "x")
    if 100 in run.sizes:
        plan100 = run.seconds(100, "mailstate", "plan")
        check("plan 100 hosts: under 3 s", plan100, 3.0, False, "s")
        low = best_floor(run, 100)
        check("plan 100 hosts: within 1.6x of the paramiko floor",
              plan100 / low if plan100 and low else None, 1.6, False, "x")
    for size in run.sizes:
        if run.seconds(size, "ansible", "apply"):
            check(f"apply {size} hosts: >= 10x faster than Ansible",
                  speedup(size, "ansible", "apply"), 10, True, "x")
        for form in DEPLOYS:
            if run.seconds(size, form, "apply"):
                check(f"apply {size} hosts: >= 2x faster than {form}",
                      speedup(size, form, "apply"), 2, True, "x")
    return out


def report(run: Run) -> str:
    lines = ["", "== results (wall seconds of a fresh process; speed-up = other / mailstate)",
             table(run), ""]
    rss = [t for t in run.timings if t.tool == "mailstate" and t.size == max(run.sizes) and t.ok]
    if rss:
        lines.append(f"mailstate controller at {max(run.sizes)} hosts, peak RSS: " + ", ".join(
            f"{t.work} {t.max_rss_kb / 1024:.0f} MB" for t in rss) + "; CPU seconds: " +
            ", ".join(f"{t.work} {t.cpu_seconds:.1f}" for t in rss) + "; floor CPU: " +
            ", ".join(f"{t.cpu_seconds:.1f}" for t in run.timings
                      if (t.size, t.work) == (max(run.sizes), "floor") and t.ok))
    if run.equivalent:
        lines.append("same end state as mailstate (mailstate plan exit 0 after the tool's "
                     "apply): " + ", ".join(f"{k} {'yes' if v else 'NO'}"
                                            for k, v in run.equivalent.items()))
    lines.append("")
    lines.append("targets:")
    for t in run.targets:
        verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        value = "not measured" if t["value"] is None else f"{t['value']}{t['unit']}"
        lines.append(f"  {verdict} {t['target']}: {value}")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="./run bench", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--sizes", default="3,20,100", help="host counts (default 3,20,100)")
    p.add_argument("--tools", default=",".join(TOOLS),
                   help="default mailstate,ansible,pyinfra,pyinfra-dropin")
    p.add_argument("--quick", action="store_true", help="3 hosts only (a few minutes)")
    p.add_argument("--apply-max", type=int, default=20, metavar="N",
                   help="Ansible/pyinfra apply and no-op only up to N hosts (default 20; "
                        "mailstate always)")
    p.add_argument("--instance", type=int,
                   default=int(os.environ.get("MAILSTATE_BENCH_INSTANCE", "4")),
                   help="lab instance (default 4)")
    p.add_argument("--repeat", type=int, default=1, metavar="R",
                   help="time every command R times, keep the best (same for every tool)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per command")
    p.add_argument("--keep-lab", action="store_true", help="leave the lab hosts running")
    args = p.parse_args(argv)
    args.sizes = [3] if args.quick else sorted({int(s) for s in args.sizes.split(",") if s})
    args.tools = [t for t in args.tools.split(",") if t]
    unknown = set(args.tools) - set(TOOLS)
    if unknown:
        p.error(f"unknown tools: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mailstate.lab import Lab

    ensure_venv()
    # Byte-compile mailstate as `pip install` would: no run pays for compiling sources.
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(REPO / "mailstate")],
                   check=False, stdout=subprocess.DEVNULL, env=tool_env())
    run = Run(time.strftime("%Y-%m-%dT%H:%M:%S"), args.sizes, args.tools, versions())
    print("== " + ", ".join(f"{k} {v}" for k, v in run.versions.items()), flush=True)
    lab = Lab(args.instance)
    started = time.perf_counter()
    if lab.hosts():  # left running by --keep-lab: back to stock, or `up` refuses them
        lab.reset()
    try:
        for size in args.sizes:
            bench_size(run, lab, size, args.tools, args)
    finally:
        if not args.keep_lab:
            lab.down()
    run.targets = targets(run)
    text = report(run)
    print(text)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {**asdict(run), "table": text}
    stamp = run.started.replace(":", "")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {RESULTS / 'latest.json'}")
    failed = [t for t in run.timings if not t.ok and not t.note.startswith("skipped")]
    return 1 if failed or not all(run.equivalent.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
