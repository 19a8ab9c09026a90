"""The product as an admin installs it: a wheel built from this tree, installed into a
clean venv outside the repo, runs the whole main job from an empty directory against a
lab host it starts itself, with the shipped profile named by name, then the demo
(issue #17).

The dependencies are installed from a wheelhouse holding exactly the versions of the
repo's venv (fetched once with `pip download`, kept in /var/cache/mailstate/wheels), so
the test installs offline (`--no-index`) after the first run and stays fast.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from mailstate.lab import Lab

REPO = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
WHEELHOUSE = Path(os.environ.get("MAILSTATE_WHEELHOUSE", "/var/cache/mailstate/wheels"))
BUILD_REQUIREMENT = "setuptools>=68"  # pyproject's [build-system]


def runtime_pins() -> list[str]:
    """name==version of every runtime dependency of mailstate, as the repo's venv has it."""
    pins: dict[str, str] = {}
    todo = ["mailstate"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:  # a marker kept it out of this Python
            continue
        pins[key] = dist.version
        for requirement in dist.requires or []:
            if not re.search(r"extra\s*==", requirement):
                name_part = re.match(r"[A-Za-z0-9._-]+", requirement)
                assert name_part is not None, requirement
                todo.append(name_part.group(0))
    pins.pop("mailstate")
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _held(pin: str) -> bool:
    name, version = pin.split("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    return any(re.sub(r"[-_.]+", "_", p.name.split("-")[0]).lower() == stem
               and p.name.split("-")[1] == version for p in WHEELHOUSE.glob("*.whl"))


def fill_wheelhouse(pins: list[str]) -> None:
    """Download (once) what the wheelhouse lacks; concurrent runs wait for each other."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    with (WHEELHOUSE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [p for p in pins if not _held(p)]
        if missing:
            subprocess.run([*PIP, "download", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", str(WHEELHOUSE), *missing], check=True, timeout=600)
        if not list(WHEELHOUSE.glob("setuptools-*.whl")):
            subprocess.run([*PIP, "download", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", str(WHEELHOUSE), BUILD_REQUIREMENT], check=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """bin/ of a fresh venv (outside the repo) holding the wheel of this tree."""
    started = time.monotonic()
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"  # only what a release ships: no tests, no .venv, no states/
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "mailstate", source / "mailstate",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pins = runtime_pins()
    fill_wheelhouse(pins)
    offline = ["--no-index", "--find-links", str(WHEELHOUSE)]
    subprocess.run([*PIP, "wheel", "-q", "--no-deps", *offline, "-w", str(root / "dist"),
                    f"{source}/"], check=True, timeout=300, cwd=root)
    wheel = next((root / "dist").glob("mailstate-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True, timeout=120)
    # --no-compile: each module is compiled when first imported (saves ~1.5 s of ~6)
    subprocess.run([*PIP, "--python", str(root / "venv" / "bin" / "python"), "install", "-q",
                    "--no-compile", *offline, str(wheel), *pins],
                   check=True, timeout=300, cwd=root)
    print(f"\nwheel built and installed in {time.monotonic() - started:.1f} s")
    yield root / "venv" / "bin"


def test_the_wheel_ships_every_data_file_of_the_package(installed: Path) -> None:
    wheel = next(installed.parent.parent.glob("dist/mailstate-*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "mailstate"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    assert tracked and [f for f in tracked if f not in shipped] == []


def mailstate(bin_dir: Path, cwd: Path, *args: str, timeout: float = 300
              ) -> subprocess.CompletedProcess[str]:
    """The installed `mailstate`, with nothing of the repo on its paths."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILSTATE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    proc = subprocess.run([str(bin_dir / "mailstate"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def on_terminal(bin_dir: Path, cwd: Path, args: list[str], answer: str) -> tuple[int, str]:
    """Run the installed `mailstate` with a terminal as stdin and type `answer`."""
    parent, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILSTATE_", "PYTHON"))}
    proc = subprocess.Popen([str(bin_dir / "mailstate"), *args], cwd=cwd, env=env,
                            stdin=child, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    os.close(child)
    os.write(parent, answer.encode())  # the terminal holds it until the prompt reads it
    out, _ = proc.communicate(timeout=300)
    os.close(parent)
    return proc.returncode, out


def test_installed_package_runs_the_main_job_from_an_empty_directory(
        installed: Path, tmp_path: Path, _mixed_instance: Lab) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    instance = str(_mixed_instance.instance)
    site = mailstate(installed, empty, "profiles", "--json")
    folder = Path(json.loads(site.stdout)["folder"])
    assert folder.is_relative_to(installed.parent) and (folder / "hardened.yaml").is_file()

    # a fresh lab host from the installed package (its host.sh, its templates)
    assert mailstate(installed, empty, "lab", "down", "--instance", instance).returncode == 0
    up = mailstate(installed, empty, "lab", "up", "1", "--instance", instance,
                   "--release", "bookworm")
    assert up.returncode == 0, up.stdout + up.stderr
    inventory = re.search(r"^inventory:\s+(\S+)$", up.stdout, re.M)
    assert inventory is not None, up.stdout
    inv = inventory.group(1)
    assert "mailstate_states:\n    - hardened\n" in Path(inv).read_text()  # by name

    lint = mailstate(installed, empty, "lint", "-i", inv, "--json")
    assert lint.returncode == 0, lint.stdout
    assert json.loads(lint.stdout)["targets"][0]["files"] == [str(folder / "hardened.yaml")]
    plan = mailstate(installed, empty, "plan", "-i", inv, "-o", "plan.json")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "+submission inet n" in plan.stdout
    applied = mailstate(installed, empty, "apply", "plan.json", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 converged" in applied.stdout
    assert mailstate(installed, empty, "plan", "-i", inv).returncode == 0  # nothing left
    audit = mailstate(installed, empty, "audit", "-i", inv, "--cafile",
                      str(_mixed_instance.ca_path), "--json")
    assert audit.returncode == 0, audit.stdout
    assert json.loads(audit.stdout)["ok"] is True

    # rollback behaves like apply: asks on a terminal, refuses --json without --yes,
    # prints its own human view (not the host script's protocol lines)
    refused = mailstate(installed, empty, "rollback", "h1", "-i", inv, "--json")
    assert refused.returncode == 1 and "--yes" in refused.stdout
    code, out = on_terminal(installed, empty, ["rollback", "h1", "-i", inv], "yes\n")
    assert code == 0, out
    assert "h1: restore backup" in out and "Roll back these hosts?" in out
    assert "put back /etc/postfix/main.cf" in out
    assert "rollback: 1 hosts, 1 restored, 0 failed" in out
    assert not re.search(r"^(RESTORED|REMOVED|DONE|HOLD|SWAPPED)\b", out, re.M)
    again = mailstate(installed, empty, "plan", "-i", inv)
    assert again.returncode == 2  # stock again: the profile's changes are pending

    # a new project from the installed package lints clean as written
    assert mailstate(installed, empty, "profiles", "init", "project").returncode == 0
    project = mailstate(installed, empty, "lint", "-i", "project/inventory.yaml")
    assert project.returncode == 0, project.stdout
    assert sorted(p.name for p in empty.iterdir()) == ["plan.json", "project"]

    # the demo from the installed package: its own steps (mailstate/demo.py), same host
    demo = mailstate(installed, empty, "demo", "1", "--instance", instance,
                     "--release", "bookworm")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert f"$ mailstate apply -i {inv} --yes" in demo.stdout


def test_installed_completion_is_the_packages_own(installed: Path, tmp_path: Path) -> None:
    demo = mailstate(installed, tmp_path, "demo", "--help")  # the demo's own options
    assert demo.returncode == 0 and "--release" in demo.stdout and "--instance" in demo.stdout
    script = mailstate(installed, tmp_path, "completion", "bash").stdout
    assert "__complete bash" in script
    found = mailstate(installed, tmp_path, "__complete", "bash", "pro", "mailstate pro")
    assert found.stdout.splitlines() == ["words", "profiles"]
