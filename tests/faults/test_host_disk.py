"""A host that cannot take the change (full disk, read-only dir) refuses it before swapping.

Each case mounts something inside lab host h1 only (its own mount namespace) and
unmounts it at the end. The promise: apply fails with a message naming the problem,
no live file, service or listener changes, and no lock is left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mailstate.lab import Lab
from tests.faults.conftest import BACKUPS, HOST, cli, host_ports, ls, no_traceback, tree_digest

FILL = "dd if=/dev/zero of={0}/.fill bs=4096 2>/dev/null; true"


@contextmanager
def mounted(lab: Lab, target: str, setup: str) -> Iterator[None]:
    """Run `setup` (which mounts something on `target`) and unmount it afterwards."""
    proc = lab.run(HOST, f"mkdir -p {target} && {setup}")
    assert proc.returncode == 0, proc.stderr
    try:
        yield
    finally:
        lab.run(HOST, f"umount {target}")


def full_tmpfs(target: str, copy: bool = False) -> str:
    """A tiny tmpfs over `target` (with its old contents when `copy`), then filled up."""
    save = f"cp -a {target}/. /tmp/mailstate-save/ && " if copy else ""
    back = f"cp -a /tmp/mailstate-save/. {target}/ && " if copy else ""
    return (f"mkdir -p /tmp/mailstate-save && {save}"
            f"mount -t tmpfs -o size=2m,mode=0755 tmpfs {target} && {back}"
            + FILL.format(target))


def _refused_before_swap(lab: Lab, inventory: str, expect: str) -> dict[str, object]:
    before, ports = tree_digest(lab), host_ports(lab)
    out = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    no_traceback(out)
    assert out.code == 1, out.stdout + out.stderr
    host = out.json()["hosts"][0]
    assert host["status"] == "failed", host["status"]
    assert host["written"] == [] and host["backup"] is None, host
    assert expect in json.dumps(host["messages"]), host["messages"]
    assert tree_digest(lab) == before
    assert host_ports(lab) == ports
    return host


@pytest.mark.parametrize(("target", "copy", "expect"), [
    ("/var/lib/mailstate", False, "no space left in /var/lib/mailstate"),  # stage dir
    ("/etc/dovecot", True, "cannot write in /etc/dovecot"),  # a target dir, not the first
    ("/var/backups/mailstate", False, "cannot write backups in /var/backups/mailstate"),
])
def test_full_disk_is_refused_before_any_live_file(hardened_inventory: str, clean_lab: Lab,
                                                   target: str, copy: bool,
                                                   expect: str) -> None:
    with mounted(clean_lab, target, full_tmpfs(target, copy)):
        _refused_before_swap(clean_lab, hardened_inventory, expect)
        assert [f for f in ls(clean_lab, "/var/lib/mailstate") if f != ".fill"] == []
    assert ls(clean_lab, BACKUPS) == []


def test_read_only_config_dir_is_refused_before_any_live_file(hardened_inventory: str,
                                                              clean_lab: Lab) -> None:
    target = "/etc/roundcube"  # the last file apply would write
    setup = f"mount --bind {target} {target} && mount -o remount,ro,bind {target}"
    with mounted(clean_lab, target, setup):
        _refused_before_swap(clean_lab, hardened_inventory, "cannot write in /etc/roundcube")
        assert ls(clean_lab, "/var/lib/mailstate") == []
    assert ls(clean_lab, BACKUPS) == []
