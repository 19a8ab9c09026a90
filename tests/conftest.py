"""Shared pytest plumbing: the real lab hosts every server-facing test runs against.

`lab` (session): instance $MAILSTATE_LAB_INSTANCE (default 1) with 3 hosts, started
once per run and stopped at the end unless MAILSTATE_LAB_KEEP=1 (then the next run
reuses it: `up` is idempotent). `clean_lab` (per test): every host reset to stock.
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


def lab_instance() -> int:
    return int(os.environ.get("MAILSTATE_LAB_INSTANCE", "1"))


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
        if {"lab", "clean_lab", "lab_machine"} & set(names):
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
        instance.up(3)
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
