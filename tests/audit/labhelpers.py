"""What the audit's lab tests share: the lab CA, `ss` inside a host, named inventories.

The lab's certificates name `hN.test` (and, for now, the host's IP and 127.0.0.1); the
tests say which name clients use the way an admin does, with `mail_hostname`, so they
keep passing when the lab's certificates become DNS-only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / "states" / "hardened.yaml"


def cafile(lab: Any) -> str:
    return str(Path(lab.state_dir) / "ca" / "ca.pem")


def mail_hostname(name: str) -> str:
    """The DNS name on lab host `name`'s certificate."""
    return f"{name}.test"


def ss_of(lab: Any, name: str) -> Any:
    def run() -> str:
        return str(lab.run(name, "ss -ltnH", check=True).stdout)
    return run


def named_inventory(lab: Any, directory: Path, hosts: dict[str, dict[str, Any]],
                    with_state: bool = True) -> Path:
    """An inventory of the lab's connection details under other names and variables:
    `hosts` maps an inventory name to {"lab": "h2", ...extra host vars}. Without
    `with_state` no host names a state file (only the state-free checks apply)."""
    source = yaml.safe_load(Path(lab.inventory_path).read_text())
    lab_hosts = source["all"]["hosts"]
    written = {}
    for name, spec in hosts.items():
        extra = {k: v for k, v in spec.items() if k != "lab"}
        # connection details only: the lab's own mail_hostname is for its own names
        connection = {k: v for k, v in lab_hosts[spec["lab"]].items() if k != "mail_hostname"}
        written[name] = {**connection, **extra}
    group_vars = source["all"].get("vars", {}) if with_state else {}
    document = {"all": {"hosts": written, "vars": group_vars}}
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailstate", "audit", *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
