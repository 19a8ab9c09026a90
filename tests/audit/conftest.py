"""Fixtures for the audit tests: a throwaway CA and scripted mail servers on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import Behaviour, FakeServer, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def fake_server(pki: tuple[Path, Path, Path]) -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(protocol: str, **kwargs: bool) -> FakeServer:
        server = FakeServer(Behaviour(protocol, **kwargs), pki[1], pki[2])
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
