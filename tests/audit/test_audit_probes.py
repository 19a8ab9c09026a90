"""Probes against scripted servers on 127.0.0.1: each protocol, each TLS mode."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from mailstate.audit.findings import hygiene_findings
from mailstate.audit.probes import probe_port
from mailstate.audit.results import ProbeOptions

OPTS = ProbeOptions(timeout=3)


def codes(obs, cafile=None):  # type: ignore[no-untyped-def]
    return sorted(f.code for f in hygiene_findings(obs, cafile))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_closed_port() -> None:
    obs = probe_port("127.0.0.1", free_port(), "submission", OPTS)
    assert (obs.state, obs.error) == ("closed", "connection refused")
    assert codes(obs) == []


def test_submission_requiring_tls(fake_server: Callable, pki: tuple[Path, ...]) -> None:
    server = fake_server("smtp", mail_requires_tls=True)
    obs = probe_port("127.0.0.1", server.port, "submission",
                     ProbeOptions(timeout=3, cafile=str(pki[0])))
    assert obs.state == "open" and obs.banner == "fake ESMTP"
    assert obs.starttls and obs.tls_required and obs.auth_after_tls
    assert not obs.login_before_tls and "STARTTLS" in obs.capabilities
    assert "AUTH PLAIN LOGIN" in obs.capabilities_tls
    assert obs.tls is not None and obs.tls.mode == "starttls"
    assert obs.tls.protocol == "TLSv1.3" and obs.tls.verified is True
    assert obs.tls.cert is not None and obs.tls.cert.subject == "CN=mail.test"
    assert obs.tls.cert.san == ("DNS:localhost", "IP:127.0.0.1")
    assert 28 <= obs.tls.cert.days_left <= 30
    assert codes(obs, pki[0]) == []


def test_smtp_auth_before_tls_is_an_error(fake_server: Callable) -> None:
    server = fake_server("smtp", login_before_tls=True)
    obs = probe_port("127.0.0.1", server.port, "smtp", OPTS)
    assert obs.login_before_tls and obs.auth_before_tls == ("PLAIN", "LOGIN")
    assert obs.tls_required is False and obs.tls is not None and obs.tls.verified is None
    assert codes(obs) == ["auth-before-tls"]


def test_smtp_without_starttls(fake_server: Callable) -> None:
    server = fake_server("smtp", starttls=False)
    obs = probe_port("127.0.0.1", server.port, "smtp", OPTS)
    assert obs.starttls is False and obs.tls is None
    [finding] = hygiene_findings(obs, None)
    assert (finding.code, finding.severity) == ("starttls-missing", "warning")


def test_implicit_tls_smtp_imap_pop3(fake_server: Callable) -> None:
    for protocol, service in (("smtp", "submissions"), ("imap", "imaps"), ("pop3", "pop3s")):
        server = fake_server(protocol, implicit=True, starttls=False)
        obs = probe_port("127.0.0.1", server.port, service, OPTS)
        assert obs.error == "", service
        assert obs.tls is not None and obs.tls.mode == "implicit", service
        assert obs.auth_after_tls is True, service
        assert codes(obs) == [], service


def test_implicit_port_speaking_plaintext_fails_loudly(fake_server: Callable) -> None:
    server = fake_server("imap")  # plaintext server where imaps is expected
    obs = probe_port("127.0.0.1", server.port, "imaps", OPTS)
    assert obs.state == "open" and obs.tls is None
    assert obs.error.startswith("TLS handshake failed")
    [finding] = hygiene_findings(obs, None)
    assert (finding.code, finding.severity) == ("probe-failed", "error")


def test_cert_that_does_not_verify(fake_server: Callable, tmp_path: Path) -> None:
    from fakeserver import make_pki

    other_ca = make_pki(tmp_path)[0]
    server = fake_server("imap", implicit=True, starttls=False)
    obs = probe_port("127.0.0.1", server.port, "imaps",
                     ProbeOptions(timeout=3, cafile=str(other_ca)))
    assert obs.tls is not None and obs.tls.verified is False
    assert obs.tls.verify_error  # OpenSSL's words, e.g. "certificate signature failure"
    assert obs.tls.cert is not None  # the facts are still collected
    assert codes(obs, other_ca) == ["cert-unverified"]


def test_imap_plaintext_login_and_logindisabled(fake_server: Callable) -> None:
    leaky = fake_server("imap", login_before_tls=True)
    obs = probe_port("127.0.0.1", leaky.port, "imap", OPTS)
    assert obs.login_before_tls and obs.auth_before_tls == ("LOGIN", "PLAIN")
    assert codes(obs) == ["plaintext-login"]
    safe = fake_server("imap")
    obs = probe_port("127.0.0.1", safe.port, "imap", OPTS)
    assert "LOGINDISABLED" in obs.capabilities and obs.starttls
    assert obs.login_before_tls is False and obs.tls_required and obs.auth_after_tls
    [finding] = hygiene_findings(obs, None)  # LOGINDISABLED, but still a cleartext port
    assert (finding.code, finding.severity) == ("cleartext-port", "warning")


def test_pop3_user_before_stls(fake_server: Callable) -> None:
    leaky = fake_server("pop3", login_before_tls=True)
    obs = probe_port("127.0.0.1", leaky.port, "pop3", OPTS)
    assert obs.auth_before_tls == ("USER", "PLAIN") and obs.starttls
    assert codes(obs) == ["plaintext-login"]
    safe = fake_server("pop3")
    obs = probe_port("127.0.0.1", safe.port, "pop3", OPTS)
    assert obs.login_before_tls is False and obs.auth_after_tls is True
    assert "USER" in obs.capabilities_tls


def test_silent_server_times_out_within_bound() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        obs = probe_port("127.0.0.1", port, "smtp", ProbeOptions(timeout=0.5))
    assert obs.state == "open" and "timed out" in obs.error
    assert obs.elapsed_ms < 3000
