"""~/.ssh/config with ProxyJump, and `mailstate rollback`, on real lab hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from mailstate.lab import Lab
from tests.engine.conftest import REPO, host_digest, mailstate, write_inventory


def _home_with_ssh_config(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "config").write_text(config)
    return home


def _h2_only_inventory(lab: Lab, tmp_path: Path, *drop: str) -> Path:
    """An inventory of h2 alone, without the host vars named in `drop`."""
    document = lab.inventory()
    h2 = document["all"]["hosts"]["h2"]  # type: ignore[index]
    document["all"]["hosts"] = {"h2": {k: v for k, v in h2.items() if k not in drop}}  # type: ignore[index]
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(document))
    return inventory


def _plan_with_home(inventory: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailstate", "plan", "-i", str(inventory), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HOME": str(home)})


def test_proxyjump_from_ssh_config_reaches_a_host_through_another(
        clean_lab: Lab, tmp_path: Path) -> None:
    jump, target = clean_lab.host("h1").address, clean_lab.host("h2").address
    home = _home_with_ssh_config(
        tmp_path, f"Host {target}\n  ProxyJump root@{jump}\n\n"
                  f"Host {jump}\n  IdentityFile {clean_lab.key_path}\n"
                  f"  UserKnownHostsFile {clean_lab.known_hosts_path}\n")
    inventory = _h2_only_inventory(clean_lab, tmp_path)
    proc = _plan_with_home(inventory, home)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # break the jump host's key: the same plan must now fail on the jump, not go direct
    _home_with_ssh_config(
        tmp_path, f"Host {target}\n  ProxyJump root@{jump}\n\n"
                  f"Host {jump}\n  IdentityFile {clean_lab.key_path}\n"
                  f"  UserKnownHostsFile {tmp_path / 'empty_known_hosts'}\n")
    (tmp_path / "empty_known_hosts").write_text("")
    broken = _plan_with_home(inventory, home)
    assert broken.returncode == 1
    assert f"unknown host key for {jump}" in broken.stdout + broken.stderr


def test_match_exec_in_ssh_config_still_runs_with_invoke_deferred(
        clean_lab: Lab, tmp_path: Path) -> None:
    """mailstate defers paramiko's `import invoke`; `Match exec` must still work."""
    target = clean_lab.host("h2").address
    marker = tmp_path / "use-lab-key"
    home = _home_with_ssh_config(
        tmp_path, f'Match host {target} exec "test -e {marker}"\n'
                  f"  IdentityFile {clean_lab.key_path}\n"
                  f"  UserKnownHostsFile {clean_lab.known_hosts_path}\n")
    inventory = _h2_only_inventory(clean_lab, tmp_path, "ansible_ssh_private_key_file",
                                   "mailstate_known_hosts_file")
    without = _plan_with_home(inventory, home)
    assert without.returncode == 1, without.stdout + without.stderr
    marker.write_text("")
    with_marker = _plan_with_home(inventory, home)
    assert with_marker.returncode == 2, with_marker.stdout + with_marker.stderr


def test_rollback_lists_and_restores_the_last_backup(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", ["hardened"]))
    stock = host_digest(clean_lab, "h1")
    stock_ports = {int(a.rsplit(":", 1)[1]) for a in
                   clean_lab.run("h1", "ss -ltnH | awk '{print $4}'").stdout.split()}
    assert mailstate("apply", "-i", inventory, "--limit", "h1", "--yes").code == 0
    assert host_digest(clean_lab, "h1") != stock

    listed = mailstate("rollback", "h1", "-i", inventory, "--list", "--json")
    assert listed.code == 0
    (host,) = listed.json()["hosts"]
    (backup,) = host["backups"]
    assert "/etc/postfix/main.cf" in backup["files"]
    # apply created the map and postmap its index: a rollback removes both
    assert backup["absent"] == ["/etc/postfix/tls_policy", "/etc/postfix/tls_policy.db"]

    asked = subprocess.run([sys.executable, "-m", "mailstate", "rollback", "h1", "-i",
                            inventory], cwd=REPO, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert asked.returncode == 1 and "--yes" in asked.stderr, asked.stderr  # like apply
    assert mailstate("rollback", "h1", "-i", inventory, "--json").code == 1  # needs --yes
    assert host_digest(clean_lab, "h1") != stock  # nothing was rolled back

    restored = mailstate("rollback", "h1", "-i", inventory, "--yes", "--json")
    assert restored.code == 0, restored.stdout + restored.stderr
    (result,) = restored.json()["hosts"]
    assert result["status"] == "restored"
    assert result["backup"].endswith(backup["name"])
    assert "/etc/postfix/main.cf" in result["restored"]
    assert result["removed"] == ["/etc/postfix/tls_policy", "/etc/postfix/tls_policy.db"]
    assert "RESTORED" not in restored.stdout  # a view, not the host script's lines
    assert host_digest(clean_lab, "h1") == stock
    ports = {int(a.rsplit(":", 1)[1]) for a in
             clean_lab.run("h1", "ss -ltnH | awk '{print $4}'").stdout.split()}
    assert ports == stock_ports  # verified by the rollback itself: no wait needed
    missing = mailstate("rollback", "h1", "-i", inventory, "--to", "19990101", "--yes",
                        "--json")
    assert missing.code == 1
    assert missing.json()["hosts"][0]["messages"][0]["code"] == "no-backup"
