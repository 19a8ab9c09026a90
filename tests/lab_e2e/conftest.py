"""One mixed fleet for the end-to-end tests: h1 on Debian 12, h2 on Debian 13.

The spare instance (as `mixed_lab` in tests/conftest.py), brought up and reset to stock
once per module by `hardened_mixed`, which then plans and applies the shipped hardened
profile from ONE inventory through the real CLI and keeps what each step returned, so
the module's tests read the same converged fleet instead of applying again each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import bring_up
from tests.engine.conftest import MANAGED, Run, host_digest, listeners, mailstate, write_inventory

if TYPE_CHECKING:
    from mailstate.lab import Lab

HOSTS = ("h1", "h2")  # Debian 12, Debian 13
# what the profile writes, the map included (absent at stock: not in the digest then)
WRITTEN = (*MANAGED, "/etc/postfix/tls_policy", "/etc/dovecot/conf.d/10-ssl.conf",
           "/etc/dovecot/dovecot.conf")


@dataclass(frozen=True)
class Fleet:
    """The mixed fleet after the hardened profile's first plan and apply."""

    lab: Lab
    inventory: str
    stock_files: dict[str, dict[str, str]]  # host -> path -> sha256, before the apply
    stock_listeners: dict[str, set[str]]
    plan: Run
    apply: Run


@pytest.fixture(scope="module")
def hardened_mixed(_mixed_instance: Lab, tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[Fleet]:
    lab = bring_up(_mixed_instance)
    inventory = str(write_inventory(lab, tmp_path_factory.mktemp("fleet") / "inv.yaml",
                                    ["hardened"]))
    stock_files = {h: host_digest(lab, h, WRITTEN) for h in HOSTS}
    stock_listeners = {h: listeners(lab, h) for h in HOSTS}
    plan = mailstate("plan", "-i", inventory, "--json")
    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    yield Fleet(lab, inventory, stock_files, stock_listeners, plan, applied)
    lab.reset()


def tmp_inventory(lab: Lab, tmp_path: Path, states: list[str]) -> str:
    return str(write_inventory(lab, tmp_path / "inv.yaml", states))


CONFIG_TREES = "/etc/postfix /etc/dovecot /etc/roundcube"


def tree_digest(lab: Lab, name: str) -> str:
    """sha256 of every file in a host's Postfix, Dovecot and Roundcube trees, sorted: a file
    changed, added (a map, its index) or removed shows; read through the host's namespaces."""
    return lab.run(name, f"find {CONFIG_TREES} -type f -print0 | sort -z | "
                         "xargs -0 sha256sum", check=True).stdout
