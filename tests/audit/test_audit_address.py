"""Where audit probes an inventory host, and where `show` says it is: where ssh
connects. A host known to the inventory only by an ssh alias (`mailhost`, with
`HostName` in ~/.ssh/config) used to be probed at the alias, a name DNS does not know,
so every port read as unreachable; `show` printed port 22 whatever the config said."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mailstate.inventory.load import load_inventory
from mailstate.transport.ssh import SshOptions, ssh_destination

REPO = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host mailhost\n  HostName 127.0.0.1\n  Port 2222\n"
        "Host relay\n  HostName 127.0.0.2\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("mailhost\nrelay ansible_host=127.0.0.3\nother\n")
    return home, inventory


def test_the_destination_is_sshs_hostname_and_port(tmp_path: Path) -> None:
    home, path = _project(tmp_path)
    inventory = load_inventory([str(path)])
    options = SshOptions(ssh_config_path=home / ".ssh" / "config")
    assert ssh_destination(inventory.host("mailhost"), options) == ("127.0.0.1", 2222)
    # ansible_host is the name ssh is given: `Host relay` does not match it
    assert ssh_destination(inventory.host("relay"), options) == ("127.0.0.3", 22)
    assert ssh_destination(inventory.host("other"), options) == ("other", 22)


def test_audit_reports_and_probes_the_resolved_address(tmp_path: Path) -> None:
    home, inventory = _project(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "mailstate", "audit", "-i", str(inventory), "--limit",
         "mailhost", "--no-ssh", "--timeout", "1", "--json"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "HOME": str(home)})
    report = json.loads(out.stdout)
    host = report["hosts"][0]
    assert (host["name"], host["address"]) == ("mailhost", "127.0.0.1"), out.stdout


def test_show_names_where_ssh_connects(tmp_path: Path) -> None:
    """`show` printed the inventory's address and port 22 for a host whose port and
    address ~/.ssh/config gives."""
    home, inventory = _project(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "mailstate", "show", "mailhost", "-i", str(inventory),
         "--json"], capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "HOME": str(home)})
    shown = json.loads(out.stdout)
    assert (shown["address"], shown["port"]) == ("127.0.0.1", 2222), out.stdout + out.stderr
    plain = subprocess.run(
        [sys.executable, "-m", "mailstate", "show", "mailhost", "-i", str(inventory)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "HOME": str(home), "NO_COLOR": "1"})
    assert "host mailhost (127.0.0.1:2222)" in plain.stdout, plain.stdout + plain.stderr
