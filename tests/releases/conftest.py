"""Fixtures: each supported release's real tools (see realtools.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.releases.realtools import Release


@pytest.fixture(scope="session")
def bookworm() -> Release:
    """Debian 12's tools: this machine's own (Postfix 3.7, Dovecot 2.3)."""
    return Release(Path("/"))


@pytest.fixture(scope="session")
def trixie(lab_machine: None) -> Iterator[Release]:
    """Debian 13's tools, chrooted in a throw-away overlay (Postfix 3.10, Dovecot 2.4)."""
    from mailstate.lab.rootfs import overlay

    with overlay("trixie") as root:
        yield Release(root)
