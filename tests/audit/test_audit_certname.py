"""Certificate names against the expected name, and how that reaches the findings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mailstate.audit.certname import name_matches
from mailstate.audit.findings import hygiene_findings
from mailstate.audit.probes import probe_port
from mailstate.audit.results import ProbeOptions
from mailstate.audit.runner import Target, audit
from mailstate.expectations import ListenerExpectation as Exp

SAN = ("DNS:mx1.example.com", "DNS:*.mail.example.com", "IP:192.0.2.7", "IP:2001:db8::7")


@pytest.mark.parametrize(("name", "matches"), [
    ("mx1.example.com", True),
    ("MX1.Example.COM.", True),          # case and a trailing dot do not matter
    ("imap.mail.example.com", True),     # the wildcard covers one label
    ("mail.example.com", False),         # ... not the bare parent
    ("a.b.mail.example.com", False),     # ... nor two labels
    ("mx2.example.com", False),
    ("192.0.2.7", True),                 # an IP only matches an IP entry
    ("2001:db8:0::7", True),
    ("192.0.2.8", False),
    ("", False),
])
def test_name_rules(name: str, matches: bool) -> None:
    assert name_matches(name, SAN) is matches


def test_no_cn_fallback_and_no_partial_wildcards() -> None:
    assert not name_matches("mail.test", ())  # a subject CN alone is never enough
    assert not name_matches("mx.example.com", ("DNS:m*.example.com",))
    assert not name_matches("example.com", ("DNS:*.com",))  # wildcard needs two labels left
    assert not name_matches("192.0.2.7", ("DNS:192.0.2.7",))


def test_expected_name_drives_the_verdict(fake_server: Callable, pki: tuple[Path, ...]) -> None:
    server = fake_server("imap", implicit=True, starttls=False)  # cert: localhost, 127.0.0.1
    options = ProbeOptions(timeout=3, cafile=str(pki[0]))
    good = probe_port("127.0.0.1", server.port, "imaps", options, expected_name="localhost")
    assert good.tls is not None and good.tls.verified is True
    assert (good.tls.expected_name, good.tls.name_matched) == ("localhost", True)
    assert hygiene_findings(good, str(pki[0])) == []
    bad = probe_port("127.0.0.1", server.port, "imaps", options,
                     expected_name="mx1.example.com")
    assert bad.tls is not None
    assert bad.tls.verified is True  # the chain is fine: only the name is wrong
    assert bad.tls.name_matched is False
    [finding] = hygiene_findings(bad, str(pki[0]))
    assert finding.code == "cert-name-mismatch" and finding.severity == "error"
    assert "not valid for mx1.example.com" in finding.summary
    assert "DNS:localhost, IP:127.0.0.1" in finding.detail


def test_one_certificate_on_two_ports_is_one_finding(fake_server: Callable) -> None:
    imaps = fake_server("imap", implicit=True, starttls=False)
    pop3s = fake_server("pop3", implicit=True, starttls=False)
    target = Target("t", "127.0.0.1", (
        Exp(imaps.port, "imaps", "public", "implicit", "after-tls", "a"),
        Exp(pop3s.port, "pop3s", "public", "implicit", "after-tls", "b"),
    ), expected_name="mx1.example.com")
    [report] = audit([target], ProbeOptions(timeout=3, concurrency=4))
    mismatches = [f for f in report.all_findings() if f.code == "cert-name-mismatch"]
    assert len(mismatches) == 1
    first, second = sorted((imaps.port, pop3s.port))
    assert mismatches[0].summary == (f"certificate on {first}, {second} is not valid for "
                                     "mx1.example.com")
    assert mismatches[0].extra["ports"] == [first, second]
    assert report.expected_name == "mx1.example.com" and not report.ok


def test_expiry_warning_and_expired(fake_server: Callable, tmp_path: Path) -> None:
    from fakeserver import make_pki, server_context

    for days, code, severity in ((10, "cert-expiring", "warning"), (-2, "cert-expired", "error")):
        directory = tmp_path / str(days)
        directory.mkdir()
        _ca, cert, key = make_pki(directory, days=days, issued_days_ago=30)
        server = fake_server("pop3", context=server_context(cert, key), implicit=True,
                             starttls=False)
        obs = probe_port("127.0.0.1", server.port, "pop3s", ProbeOptions(timeout=3))
        assert obs.tls is not None and obs.tls.cert is not None
        assert days - 1 <= obs.tls.cert.days_left <= days  # whole days, rounded down
        found = [(f.code, f.severity) for f in hygiene_findings(obs, None)]
        assert found == [(code, severity)], days


def test_certificate_name_comes_from_mail_hostname_else_the_inventory_name() -> None:
    from types import SimpleNamespace

    from mailstate.commands.audit import certificate_name

    def host(**variables: object) -> object:
        return SimpleNamespace(name="mx1", vars=variables)

    assert certificate_name(host()) == ("mx1", [])  # type: ignore[arg-type]
    assert certificate_name(host(mail_hostname=" mail.example.com ")) == (  # type: ignore[arg-type]
        "mail.example.com", [])
    for bad in (["a", "b"], "two names", ""):
        name, [problem] = certificate_name(host(mail_hostname=bad))  # type: ignore[arg-type]
        assert name == "mx1" and problem.code == "bad-variable" and problem.severity == "error"
        assert "mail_hostname must be one DNS name" in problem.summary


def test_certificate_text_is_shown_not_obeyed(fake_server: Callable, tmp_path: Path) -> None:
    """A name with a terminal escape sequence reaches the report as visible text."""
    from fakeserver import make_pki, server_context

    _ca, cert, key = make_pki(tmp_path, names=("mx\x1b[2J.example.com",))
    server = fake_server("imap", context=server_context(cert, key), implicit=True,
                         starttls=False)
    obs = probe_port("127.0.0.1", server.port, "imaps", ProbeOptions(timeout=3))
    assert obs.tls is not None and obs.tls.cert is not None
    assert obs.tls.cert.san == ("DNS:mx\\x1b[2J.example.com",)
    [finding] = hygiene_findings(obs, None)
    assert finding.code == "cert-name-mismatch" and "\x1b" not in finding.detail
