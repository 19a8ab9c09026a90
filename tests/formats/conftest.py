"""Shared fixtures for the format tests: the stock files of the installed packages."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
POSTFIX_FILES = ["/etc/postfix/main.cf", "/etc/postfix/master.cf",
                 "/usr/share/postfix/main.cf.dist"]
DOVECOT_ROOT = "/etc/dovecot/dovecot.conf"


def dovecot_files() -> dict[str, bytes]:
    """Every Dovecot config file of the stock install (not the private key directory)."""
    paths = glob.glob("/etc/dovecot/**/*", recursive=True)
    paths += glob.glob("/usr/share/dovecot/protocols.d/*")
    return {p: Path(p).read_bytes() for p in sorted(paths)
            if os.path.isfile(p) and not p.startswith("/etc/dovecot/private/")}


def read(path: str) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture(scope="session")
def stock_dovecot() -> dict[str, bytes]:
    files = dovecot_files()
    if DOVECOT_ROOT not in files:
        pytest.skip("dovecot is not installed")
    return files
