"""Fixtures for the audit tests: a throwaway CA and scripted mail servers on 127.0.0.1,
and a hardened lab host."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import Behaviour, FakeServer, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def fake_server(pki: tuple[Path, Path, Path]) -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(protocol: str, context: ssl.SSLContext | None = None,
              **kwargs: bool) -> FakeServer:
        server = FakeServer(Behaviour(protocol, **kwargs), pki[1], pki[2], context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _hardened(lab: Any, name: str, directory: Path) -> Iterator[Any]:
    """Host `name` after `mailstate apply` of its inventory state (hardened); stock again
    afterwards (a kept lab must come up stock on the next run)."""
    result = subprocess.run(
        [sys.executable, "-m", "mailstate", "apply", "-i", str(lab.inventory_path),
         "--limit", name, "--yes"], capture_output=True, text=True, timeout=180,
        cwd=directory)
    assert result.returncode == 0, result.stdout + result.stderr
    yield lab.host(name)
    lab.reset([name])


@pytest.fixture
def hardened(clean_lab: Any, tmp_path: Path) -> Iterator[Any]:
    """h2, hardened."""
    yield from _hardened(clean_lab, "h2", tmp_path)


@pytest.fixture
def hardened_h3(clean_lab: Any, tmp_path: Path) -> Iterator[Any]:
    """h3, hardened: the host the TLS scan and nmap hammer. The engine's tests bind
    h2's 587 without SO_REUSEADDR, which the TIME_WAIT sockets of a scan would block
    for a minute."""
    yield from _hardened(clean_lab, "h3", tmp_path)
