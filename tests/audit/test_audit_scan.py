"""The TLS scan (hand-written ClientHellos) against Python ssl servers on 127.0.0.1.

Each server is configured to accept a known set of versions and suites (OpenSSL 3 at
@SECLEVEL=0 still serves TLS 1.0/1.1, anonymous and NULL suites); the scan must report
exactly that set, through STARTTLS on SMTP/IMAP/POP3 and with implicit TLS. Real
Postfix/Dovecot and the comparison with nmap are in test_audit_tls_lab.py.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from mailstate.audit.findings import hygiene_findings
from mailstate.audit.hello import client_hello, parse_server_hello, read_answer
from mailstate.audit.probes import probe_port
from mailstate.audit.results import ProbeOptions
from mailstate.audit.scan import scan_port
from mailstate.audit.suites import LEGACY_SUITES, suites_of

OPTS = ProbeOptions(timeout=3)
WIDE_OPEN = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"  # anonymous and NULL suites included


def context(pki: tuple[Path, ...], **kwargs: object) -> ssl.SSLContext:
    from fakeserver import server_context

    with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1/TLSv1_1 are deprecated names
        warnings.simplefilter("ignore", DeprecationWarning)
        return server_context(pki[1], pki[2], **kwargs)  # type: ignore[arg-type]


def old_versions() -> dict[str, ssl.TLSVersion]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return {"TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


def by_code(findings: list) -> dict[str, list[str]]:  # type: ignore[type-arg]
    found: dict[str, list[str]] = {}
    for f in findings:
        found.setdefault(f.code, []).append(f.severity)
    return found


@pytest.mark.parametrize(("protocol", "service"), [("smtp", "submission"), ("imap", "imap"),
                                                   ("pop3", "pop3")])
def test_starttls_ports_are_scanned_after_the_upgrade(fake_server: Callable, protocol: str,
                                                      service: str) -> None:
    server = fake_server(protocol, mail_requires_tls=True)
    obs = probe_port("127.0.0.1", server.port, service, OPTS)
    assert obs.scan is not None and obs.scan.error == ""
    assert obs.scan.versions == ("TLSv1.2", "TLSv1.3")  # Python's server default
    assert obs.scan.weak == ()
    assert obs.scan.handshakes == 5 + 1  # each version, then every weak suite at TLS 1.2
    assert obs.tls is not None and obs.tls.protocol in obs.scan.versions


@pytest.mark.parametrize(("protocol", "service"), [("smtp", "submissions"), ("imap", "imaps"),
                                                   ("pop3", "pop3s")])
def test_weak_implicit_port_is_an_error_everywhere_it_should(
        fake_server: Callable, pki: tuple[Path, ...], protocol: str, service: str) -> None:
    weak = context(pki, minimum=old_versions()["TLSv1.0"], ciphers=WIDE_OPEN)
    server = fake_server(protocol, context=weak, implicit=True, starttls=False)
    obs = probe_port("127.0.0.1", server.port, service, OPTS)
    assert obs.scan is not None
    assert obs.scan.versions == ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
    assert obs.scan.weak_classes == ("anonymous", "null")
    hits = {w.kind: w for w in obs.scan.weak}
    assert "_anon_" in hits["anonymous"].suite and "_WITH_NULL_" in hits["null"].suite
    found = by_code(hygiene_findings(obs, None))
    assert found == {"tls-version-old": ["error"], "weak-cipher": ["error", "error"]}


def test_opportunistic_port_25_only_informs(fake_server: Callable,
                                            pki: tuple[Path, ...]) -> None:
    weak = context(pki, minimum=old_versions()["TLSv1.0"], ciphers=WIDE_OPEN)
    server = fake_server("smtp", context=weak)  # STARTTLS offered, MAIL accepted without
    obs = probe_port("127.0.0.1", server.port, "smtp", OPTS)
    assert obs.tls_required is False and obs.scan is not None
    assert obs.scan.versions[0] == "TLSv1.0" and obs.scan.weak_classes == ("anonymous", "null")
    found = by_code(hygiene_findings(obs, None))
    assert found == {"tls-version-old": ["info"], "weak-cipher": ["info", "info"]}


def test_server_stuck_at_tls11_is_seen_although_the_dialogue_fails(
        fake_server: Callable, pki: tuple[Path, ...]) -> None:
    versions = old_versions()
    old = context(pki, minimum=versions["TLSv1.0"], maximum=versions["TLSv1.1"],
                  ciphers="HIGH:!aNULL:@SECLEVEL=0")
    server = fake_server("imap", context=old, implicit=True, starttls=False)
    obs = probe_port("127.0.0.1", server.port, "imaps", OPTS)
    assert obs.error.startswith("TLS handshake failed")  # this machine's client wants 1.2
    assert obs.scan is not None and obs.scan.versions == ("TLSv1.0", "TLSv1.1")
    assert obs.scan.weak == ()
    assert sorted(by_code(hygiene_findings(obs, None))) == ["probe-failed", "tls-version-old"]


def test_tls13_only_and_hello_retry_request(fake_server: Callable,
                                            pki: tuple[Path, ...]) -> None:
    only13 = context(pki, minimum=ssl.TLSVersion.TLSv1_3, curve="secp384r1")
    server = fake_server("pop3", context=only13, implicit=True, starttls=False)
    scan = scan_port("127.0.0.1", server.port, "pop3", True, "localhost", OPTS)
    assert scan is not None and scan.versions == ("TLSv1.3",)
    assert scan.handshakes == 5  # no weak class to ask about: TLS 1.3 has none
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(client_hello("TLSv1.3", (0x1301,), "localhost"))
        answer = read_answer(sock)
    assert (answer.version, answer.suite) == ("TLSv1.3", 0x1301)  # a HelloRetryRequest


def test_refusals_are_named(fake_server: Callable) -> None:
    server = fake_server("imap", implicit=True, starttls=False)  # TLS 1.2+, strong suites
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(client_hello("TLSv1.0", LEGACY_SUITES))
        answer = read_answer(sock)
    assert not answer.accepted and answer.refusal == "alert protocol_version"
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(client_hello("TLSv1.2", suites_of("anonymous")))
        answer = read_answer(sock)
    assert not answer.accepted and answer.refusal == "alert handshake_failure"


def test_no_starttls_means_no_scan(fake_server: Callable) -> None:
    server = fake_server("smtp", starttls=False)
    obs = probe_port("127.0.0.1", server.port, "smtp", OPTS)
    assert obs.starttls is False and obs.scan is None
    assert scan_port("127.0.0.1", server.port, "smtp", False, "", OPTS) is None


def test_plaintext_where_tls_is_expected(fake_server: Callable) -> None:
    server = fake_server("imap")
    scan = scan_port("127.0.0.1", server.port, "imap", True, "", OPTS)
    assert scan is not None and scan.versions == ()
    assert scan.error.startswith("no TLS version accepted (not a TLS answer")


def test_silent_server_ends_the_scan_in_bounded_time() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        scan = scan_port("127.0.0.1", silent.getsockname()[1], "imap", True, "",
                         ProbeOptions(timeout=0.3))
    assert scan is not None and scan.versions == () and "TimeoutError" in scan.error
    assert scan.handshakes == 1 and time.monotonic() - started < 2


def test_server_hello_parser_waits_for_the_whole_message() -> None:
    assert parse_server_hello(b"\x02\x00\x00") is None
    assert parse_server_hello(b"\x02\x00\x00\x30" + b"\x03\x03") is None
    refused = parse_server_hello(b"\x0b\x00\x00\x01\x00")  # a Certificate first
    assert refused is not None and not refused.accepted
    assert "instead of a ServerHello" in refused.refusal
