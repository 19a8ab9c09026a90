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


@pytest.fixture
def hardened(clean_lab: Any, tmp_path: Path) -> Iterator[Any]:
    """h2 after `mailstate apply` of its inventory state (hardened); stock again afterwards
    (a kept lab must come up stock on the next run)."""
    result = subprocess.run(
        [sys.executable, "-m", "mailstate", "apply", "-i", str(clean_lab.inventory_path),
         "--limit", "h2", "--yes"], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    yield clean_lab.host("h2")
    clean_lab.reset(["h2"])
