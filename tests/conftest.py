"""Shared pytest plumbing: the real lab hosts every server-facing test runs against.

`lab` (session): instance $MAILSTATE_LAB_INSTANCE (default 1) with 3 Debian 12 hosts,
started once per run and stopped at the end unless MAILSTATE_LAB_KEEP=1 (then the next
run reuses it: `up` is idempotent). `clean_lab` (per test): every host reset to stock.
`mixed_lab` (per test): the spare instance $MAILSTATE_LAB_SPARE (default 6) with h1 on
Debian 12 and h2 on Debian 13, side by side, reset to stock; brought (back) up when
needed, since the lab lifecycle tests take the spare instance down and up.
Tests that need root fail, never skip, when the machine cannot run the lab: CI runs
as root and must prove the real-host tests, not silently drop them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mailstate.lab import Lab


# The session lab's release: the shipped hardened profile and the engine tests target
# Debian 12 hosts; Debian 13 hosts run in `mixed_lab`.
LAB_RELEASE = "bookworm"
MIXED_RELEASES = ("bookworm", "trixie")


def lab_instance() -> int:
    return int(os.environ.get("MAILSTATE_LAB_INSTANCE", "1"))


def spare_instance() -> int:
    """The one extra instance tests may start, stop and rebuild (never the session lab)."""
    return int(os.environ.get("MAILSTATE_LAB_SPARE", "6"))


def require_lab_machine() -> None:
    """pytest.fail (not skip) with the exact fix when not root or a package is missing."""
    from mailstate.lab import preflight

    problem = preflight.check_message(preflight.TEST_ONLY)
    if problem:
        pytest.fail(problem, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs the real lab hosts (root, network namespaces)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the lab carries the `lab` marker (`-m 'not lab'` to leave out)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if {"lab", "clean_lab", "lab_machine", "mixed_lab"} & set(names):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_machine() -> None:
    """This machine can run lab hosts (root, packages); the test fails otherwise."""
    require_lab_machine()


@pytest.fixture(scope="session")
def lab(lab_machine: None) -> Iterator[Lab]:
    """The lab, up with 3 mail hosts for the whole run."""
    from mailstate.diagnostics import MailstateError
    from mailstate.lab import Lab

    instance = Lab(lab_instance())
    try:
        instance.up(3, releases=LAB_RELEASE)
    except MailstateError as exc:
        pytest.fail(f"lab did not start:\n{exc}", pytrace=False)
    yield instance
    if os.environ.get("MAILSTATE_LAB_KEEP") != "1":
        instance.down()


@pytest.fixture
def clean_lab(lab: Lab) -> Lab:
    """The lab with every host's files and services back to stock."""
    lab.reset()
    return lab


@pytest.fixture(scope="session")
def _mixed_instance(lab_machine: None) -> Iterator[Lab]:
    from mailstate.lab import Lab

    instance = Lab(spare_instance())
    yield instance
    if os.environ.get("MAILSTATE_LAB_KEEP") != "1":
        instance.down()


def bring_up(lab: Lab) -> Lab:
    """`lab` with h1 on Debian 12 and h2 on Debian 13, every file and service at stock."""
    from mailstate.diagnostics import MailstateError

    try:
        lab.up(releases=MIXED_RELEASES)
    except MailstateError as exc:
        pytest.fail(f"mixed lab did not start:\n{exc}", pytrace=False)
    lab.reset()
    return lab


@pytest.fixture
def mixed_lab(_mixed_instance: Lab) -> Lab:
    """h1 on Debian 12 and h2 on Debian 13, running, every file and service at stock."""
    return bring_up(_mixed_instance)
