"""Fleet behaviour on real hosts: rolling batches, Ctrl-C, the confirmation prompt."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mailstate.lab import Lab
from tests.engine.conftest import REPO, host_digest, mailstate, write_inventory

SMALL_CHANGE = """
postfix:
  main:
    smtp_tls_note_starttls_offer: yes
"""


def ghost(lab: Lab) -> dict[str, dict[str, object]]:
    return {"ghost": {"ansible_host": f"10.231.{lab.instance}.99", "ansible_user": "root",
                      "ansible_ssh_private_key_file": str(lab.key_path),
                      "mailstate_known_hosts_file": str(lab.known_hosts_path)}}


def test_serial_batches_stop_after_a_failed_batch(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    document_hosts = ghost(clean_lab)
    inventory = write_inventory(clean_lab, tmp_path / "inv.yaml",
                                [str(state_file("small", SMALL_CHANGE))])
    # put the dead host first so the first batch fails
    import yaml

    data = yaml.safe_load(inventory.read_text())
    data["all"]["hosts"] = {**document_hosts, **data["all"]["hosts"]}
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    stock = {h: host_digest(clean_lab, h) for h in ("h1", "h2", "h3")}
    out = mailstate("apply", "-i", str(inventory), "--yes", "--json", "--serial", "1",
                    "--max-fail", "0", "--connect-timeout", "2", cwd=tmp_path)
    assert out.code == 1
    doc = out.json()
    assert [h["host"] for h in doc["hosts"]] == ["ghost"]
    assert doc["skipped"] == ["h1", "h2", "h3"]
    assert "--max-fail" in doc["stopped"]
    assert {h: host_digest(clean_lab, h) for h in ("h1", "h2", "h3")} == stock
    retry = (tmp_path / "mailstate.retry").read_text().split()
    assert retry == ["ghost", "h1", "h2", "h3"]


def test_ctrl_c_starts_nothing_new_and_leaves_no_half_applied_host(
        clean_lab: Lab, tmp_path: Path) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    planned = mailstate("plan", "-i", inventory, "--json").json()["hosts"]
    new = {h["host"]: {c["path"]: c["after_sha256"] for c in h["changes"]} for h in planned}
    old = {h["host"]: {c["path"]: c["before_sha256"] for c in h["changes"]} for h in planned}
    proc = subprocess.Popen([sys.executable, "-m", "mailstate", "apply", "-i", inventory,
                             "--yes", "--forks", "1"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "[1/3] h1: applied (..s)"
    assert "h1: applied" in first, first
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout
    assert "interrupted" in stdout
    outcomes = []
    for host in ("h1", "h2", "h3"):
        paths = tuple(new[host])
        now = host_digest(clean_lab, host, paths)
        now = {p: now.get(p) for p in paths}
        assert now in (old[host], new[host]), f"{host} is half-applied"
        outcomes.append("new" if now == new[host] else "old")
        assert clean_lab.run(host, "ls /var/lib/mailstate 2>/dev/null").stdout.strip() == ""
    assert outcomes[0] == "new" and outcomes[2] == "old"  # h3 was never started


def _run_on_pty(args: list[str], answer: str) -> tuple[int, str]:
    parent, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mailstate", *args], cwd=REPO,
                            stdin=child, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    os.close(child)
    time.sleep(0.2)
    os.write(parent, answer.encode())
    out, _ = proc.communicate(timeout=120)
    os.close(parent)
    return proc.returncode, out


def test_apply_asks_first_and_no_means_nothing_changes(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml",
                                    [str(state_file("small", SMALL_CHANGE))]))
    stock = host_digest(clean_lab, "h1")
    code, out = _run_on_pty(["apply", "-i", inventory, "--limit", "h1"], "no\n")
    assert code == 1 and "Apply these changes?" in out and "cancelled" in out
    assert host_digest(clean_lab, "h1") == stock
    code, out = _run_on_pty(["apply", "-i", inventory, "--limit", "h1"], "yes\n")
    assert code == 0, out
    assert "h1: applied" in out


def test_apply_without_yes_and_without_a_terminal_refuses(
        clean_lab: Lab, tmp_path: Path, state_file: Callable[[str, str], Path]) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml",
                                    [str(state_file("small", SMALL_CHANGE))]))
    stock = host_digest(clean_lab, "h1")
    proc = subprocess.run([sys.executable, "-m", "mailstate", "apply", "-i", inventory,
                           "--limit", "h1"], cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert proc.returncode == 1
    assert "--yes" in proc.stderr and "Traceback" not in proc.stderr
    assert host_digest(clean_lab, "h1") == stock
    assert json.loads(mailstate("plan", "-i", inventory, "--limit", "h1", "--json").stdout)[
        "changed"] is True
