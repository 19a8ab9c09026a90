"""A lab host rebuilt as another release answers at once (the demo and these tests do it).

`lab up --release ...` rebuilds a running host of another release with a new namespace
and veth pair. The machine's ARP cache still held the old eth0's link address for the
host's IP, so for several seconds every connection to it timed out (the demo's plan
failed on "cannot reach h3"); each host's eth0 now has a link address derived from its
instance and number, the same across rebuilds.
"""

from __future__ import annotations

import socket

from mailstate.lab import Lab
from tests.conftest import MIXED_RELEASES, bring_up


def ssh_banner(address: str) -> bytes:
    with socket.create_connection((address, 22), timeout=2) as sock:
        sock.settimeout(2)
        return sock.recv(64)


def test_a_host_rebuilt_as_another_release_answers_at_once(_mixed_instance: Lab) -> None:
    lab = bring_up(_mixed_instance)
    address = lab.host("h2").address
    assert ssh_banner(address).startswith(b"SSH-2.0-")  # the machine knows h2's link now
    try:
        lab.up(releases=("bookworm", "bookworm"))
        assert lab.host("h2").release == "bookworm"
        assert ssh_banner(address).startswith(b"SSH-2.0-")
    finally:
        lab.up(releases=MIXED_RELEASES)
    assert lab.host("h2").release == "trixie"
    assert ssh_banner(address).startswith(b"SSH-2.0-")
