"""The SSH connection drops mid-apply (the host's sshd session process is killed).

The controller reports a clean failure (exit 1, no traceback); the host keeps every file
whole: before the swap nothing changes, once the swap has started the host finishes it
on its own. The next apply reports the stale lock and converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.faults.conftest import (
    BACKUPS,
    HARDENED_PORTS,
    HOST,
    PAUSE_FILE,
    cli,
    digests,
    finish,
    host_idle,
    host_ports,
    ls,
    no_traceback,
    plan_of,
    start_cli,
    wait_until,
)

DROP = "pkill -KILL -f 'sshd: root@[n]otty'"  # our one connection's session ([n]: not us)


def _converges(lab: Lab, inventory: str) -> None:
    again = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    assert again.code == 0, again.stdout + again.stderr
    assert "stale-lock" in [m["code"] for m in again.json()["hosts"][0]["messages"]]
    assert cli("plan", "-i", inventory, "--limit", HOST).code == 0
    assert host_ports(lab) >= HARDENED_PORTS
    assert ls(lab, "/var/lib/mailstate") == []


@pytest.mark.parametrize("point", ["after-first-write", "during-reload"])
def test_connection_dropped_during_swap(hardened_inventory: str, clean_lab: Lab,
                                        point: str) -> None:
    planned = plan_of(hardened_inventory)
    proc = start_cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes", "--json",
                     fault=f"host-pause:{point}")
    wait_until(lambda: clean_lab.run(HOST, f"test -e {PAUSE_FILE}").returncode == 0)
    clean_lab.run(HOST, f"{DROP}; rm -f {PAUSE_FILE}")
    run = finish(proc)
    no_traceback(run)
    assert run.code == 1, run.stdout + run.stderr
    host = run.json()["hosts"][0]
    assert host["status"] == "failed"
    assert "swap" in [m["code"] for m in host["messages"]], host["messages"]
    wait_until(lambda: host_idle(clean_lab))
    # swap.sh ignores the hangup: every file is new and the services were reloaded
    assert digests(clean_lab, planned.paths) == planned.after
    assert host_ports(clean_lab) >= HARDENED_PORTS
    backups = ls(clean_lab, BACKUPS)
    assert len(backups) == 1
    _converges(clean_lab, hardened_inventory)
    assert backups[0] in ls(clean_lab, BACKUPS)


def test_connection_dropped_before_swap(hardened_inventory: str, clean_lab: Lab,
                                       tmp_path: Path) -> None:
    """Validated, lock held, then the link dies before swap.sh could start: nothing changes."""
    planned = plan_of(hardened_inventory)
    marker = tmp_path / "pause"
    proc = start_cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes", "--json",
                     fault="pause-controller:validated", pause_file=marker)
    wait_until(marker.exists)
    clean_lab.run(HOST, DROP)
    marker.unlink()
    run = finish(proc)
    no_traceback(run)
    assert run.code == 1, run.stdout + run.stderr
    host = run.json()["hosts"][0]
    assert host["status"] == "failed" and host["written"] == [], host
    # the swap could not even start: the host's connection is gone, said as such
    (lost,) = host["messages"]
    assert lost["code"] == "connection" and "was lost" in lost["summary"], lost
    wait_until(lambda: host_idle(clean_lab))
    assert digests(clean_lab, planned.paths) == planned.before
    assert ls(clean_lab, BACKUPS) == []
    _converges(clean_lab, hardened_inventory)
