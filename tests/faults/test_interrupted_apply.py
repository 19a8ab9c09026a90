"""An apply interrupted at any step leaves every file whole, and the next apply converges.

The controller is SIGKILLed (fault kill-controller:POINT, armed through the test-only
entry point tests/faults/entry.py) or the host-side swap process is killed
(host-die:POINT) at each step of apply. Afterwards every live file
is byte for byte either its old or its new version, the lock is reported stale by the
next run, that run converges the host (services included), and the interrupted run's
backup is still there.
"""

from __future__ import annotations

import pytest

from mailstate.lab import Lab
from tests.faults.conftest import (
    BACKUPS,
    HARDENED_PORTS,
    HOST,
    LOCK,
    Planned,
    cli,
    digests,
    host_idle,
    host_ports,
    ls,
    plan_of,
    wait_until,
)


def _assert_whole_files(lab: Lab, planned: Planned) -> dict[str, str]:
    """Every planned file is entirely old or entirely new; returns which, per path."""
    live = digests(lab, planned.paths)
    which = {}
    for path in planned.paths:
        if live[path] == planned.before[path]:
            which[path] = "old"
        elif live[path] == planned.after[path]:
            which[path] = "new"
        else:
            pytest.fail(f"{path} is neither the old nor the new version: {live[path]}")
    return which


def _converge_after_interruption(lab: Lab, inventory: str) -> None:
    """The next apply reports the stale lock, converges; then nothing is left to do."""
    again = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    assert again.code == 0, again.stdout + again.stderr
    host = again.json()["hosts"][0]
    assert "stale-lock" in [m["code"] for m in host["messages"]], host["messages"]
    assert cli("plan", "-i", inventory, "--limit", HOST).code == 0
    ports = host_ports(lab)
    assert ports >= HARDENED_PORTS and not {110, 143} & ports, ports
    assert ls(lab, "/var/lib/mailstate") == []  # lock and every stage dir gone


@pytest.mark.parametrize(("point", "expect"), [
    ("hold-staged", "old"),        # candidates staged, host still validating
    ("validated", "old"),          # validated, swap not started
    ("after-first-write", "new"),  # first of several renames done: swap.sh goes on alone
    ("swapped", "new"),            # every file in place, postmap/reload running
])
def test_controller_killed(hardened_inventory: str, clean_lab: Lab, point: str,
                           expect: str) -> None:
    planned = plan_of(hardened_inventory)
    assert len(planned.paths) >= 3
    run = cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes", "--json",
              fault=f"kill-controller:{point}")
    assert run.code == -9
    wait_until(lambda: host_idle(clean_lab))
    which = _assert_whole_files(clean_lab, planned)
    # the host finished the swap on its own once it had started (reload included)
    assert set(which.values()) == {expect}, which
    if expect == "new":
        assert host_ports(clean_lab) >= HARDENED_PORTS
    assert clean_lab.run(HOST, f"test -d {LOCK}").returncode == 0  # left behind: stale
    backups = ls(clean_lab, BACKUPS)
    assert len(backups) == (1 if expect == "new" else 0)
    _converge_after_interruption(clean_lab, hardened_inventory)
    assert set(backups) <= set(ls(clean_lab, BACKUPS))  # the interrupted run's backup stays


@pytest.mark.parametrize("point", ["after-first-write", "during-reload"])
def test_host_side_swap_killed(hardened_inventory: str, clean_lab: Lab, point: str) -> None:
    """swap.sh itself dies (OOM killer, reboot of the process tree): files stay whole."""
    planned = plan_of(hardened_inventory)
    run = cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes", "--json",
              fault=f"host-die:{point}")
    assert run.code == 1
    host = run.json()["hosts"][0]
    assert host["status"] == "failed"
    assert "swap" in [m["code"] for m in host["messages"]]
    wait_until(lambda: host_idle(clean_lab))
    which = _assert_whole_files(clean_lab, planned)
    if point == "after-first-write":
        assert list(which.values()).count("new") == 1, which
    else:
        assert set(which.values()) == {"new"}
    backups = ls(clean_lab, BACKUPS)
    assert len(backups) == 1
    manifest = clean_lab.run(HOST, f"cat {BACKUPS}/{backups[0]}/manifest").stdout
    # every planned file, and the index postmap is about to create for the new map
    assert {line.split()[1] for line in manifest.splitlines()} == \
        {*planned.paths, "/etc/postfix/tls_policy.db"}
    (swap,) = [m for m in host["messages"] if m["code"] == "swap"]
    assert "did not finish" in swap["summary"] and "every file is whole" in swap["summary"]
    assert "lock is kept" in swap["detail"], swap
    _converge_after_interruption(clean_lab, hardened_inventory)
    assert backups[0] in ls(clean_lab, BACKUPS)
