"""Runner + findings + view on scripted servers: expectations met, missed, and rendered."""

from __future__ import annotations

import io
import json
import ssl
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from mailstate.audit.findings import expectation_findings
from mailstate.audit.results import PortObservation, ProbeOptions
from mailstate.audit.runner import Target, audit, ports_of
from mailstate.audit.view import render_plain, report_json
from mailstate.expectations import ListenerExpectation as Exp

OPTS = ProbeOptions(timeout=2, concurrency=4)


def by_port(report):  # type: ignore[no-untyped-def]
    return {p.observation.port: p for p in report.ports}


def test_matching_host_is_ok(fake_server: Callable) -> None:
    submission = fake_server("smtp", mail_requires_tls=True)
    imaps = fake_server("imap", implicit=True, starttls=False)
    target = Target("t", "127.0.0.1", (
        Exp(submission.port, "submission", "public", "starttls-required", "after-tls", "a"),
        Exp(imaps.port, "imaps", "localhost", "implicit", "after-tls", "b"),
        Exp(143, "imap", "closed", None, None, "c"),
    ), state_known=True)
    [report] = audit([target], OPTS)
    assert report.ok, [f.format() for f in report.all_findings()]
    ports = by_port(report)
    assert ports[submission.port].observation.tls_required is True
    assert ports[imaps.port].observation.tls is not None
    assert ports[143].observation.state == "closed"
    assert not report.ssh_checked and report.state_known


def test_mismatches_become_errors(fake_server: Callable) -> None:
    lax = fake_server("smtp", auth_after_tls=False)          # no SASL backend, TLS optional
    leaky = fake_server("imap", login_before_tls=True)        # should be closed
    ss = (f"LISTEN 0 100 0.0.0.0:{lax.port} 0.0.0.0:*\n"
          f"LISTEN 0 100 0.0.0.0:{leaky.port} 0.0.0.0:*\n"
          "LISTEN 0 100 0.0.0.0:993 0.0.0.0:*\n")
    target = Target("t", "127.0.0.1", (
        Exp(lax.port, "submission", "public", "starttls-required", "after-tls", "pf.sub"),
        Exp(leaky.port, "imap", "closed", None, None, "dv.imap"),
        Exp(993, "imaps", "localhost", "implicit", "after-tls", "dv.imaps"),
    ), state_known=True, listeners=lambda: ss)
    [report] = audit([target], OPTS)
    assert not report.ok and report.ssh_checked
    ports = by_port(report)
    assert sorted(f.code for f in ports[lax.port].findings) == ["auth-missing",
                                                               "tls-not-required"]
    assert sorted(f.code for f in ports[leaky.port].findings) == ["plaintext-login", "port-open"]
    # 993: closed from the loopback target where it should answer, and ss shows 0.0.0.0
    assert [f.code for f in ports[993].findings] == ["port-closed"]
    assert "listens on 0.0.0.0" in ports[993].findings[0].detail
    document = report_json([report])
    assert document["ok"] is False and document["counts"]["error"] == 5
    json.dumps(document)  # serialisable
    out = io.StringIO()
    render_plain([report], out)
    text = out.getvalue()
    assert text.startswith("t (127.0.0.1): FAIL, 5 errors [state, ss checked]")
    assert f"error: {leaky.port} (imap) is reachable from outside but should be closed" in text


def test_ss_failure_is_a_host_finding() -> None:
    def broken() -> str:
        raise OSError("no route")

    [report] = audit([Target("t", "127.0.0.1", listeners=broken)], OPTS)
    assert [f.code for f in report.findings] == ["ssh-failed"]
    assert not report.ok


def test_localhost_listener_without_ssh_is_noted() -> None:
    exp = Exp(993, "imaps", "localhost", "implicit", "after-tls", "dv")
    observation = PortObservation(993, "imaps", "closed")
    assert expectation_findings(observation, exp, None, target_is_loopback=False) == []
    [report] = audit([Target("t", "127.0.0.2", (exp,))], OPTS)
    assert [f.code for f in by_port(report)[993].findings] == ["not-checked"]
    assert report.ok


def test_auth_never_and_starttls_missing() -> None:
    obs = PortObservation(25, "smtp", "open", starttls=False, login_before_tls=True,
                          auth_before_tls=("PLAIN",))
    exp = Exp(25, "smtp", "public", "starttls-optional", "never", "pf.smtp")
    assert [f.code for f in expectation_findings(obs, exp, None, False)] == [
        "starttls-missing", "auth-offered"]


def test_ports_of_adds_state_ports() -> None:
    target = Target("t", "x", (Exp(2525, "smtp", "public", None, None, "a"),
                               Exp(465, "submissions", "closed", None, None, "b")))
    assert ports_of(target) == {25: "smtp", 110: "pop3", 143: "imap", 465: "submissions",
                                587: "submission", 993: "imaps", 995: "pop3s", 2525: "smtp"}


def test_concurrency_cap_and_time_bound() -> None:
    targets = [Target(f"t{i}", f"127.0.0.{i + 2}") for i in range(5)]
    started = time.monotonic()
    reports = audit(targets, ProbeOptions(timeout=1, concurrency=2))
    assert [r.name for r in reports] == [f"t{i}" for i in range(5)]
    assert time.monotonic() - started < 10


def test_rich_table_keeps_bracketed_title() -> None:
    from mailstate.audit.view import render_rich

    [report] = audit([Target("t", "127.0.0.2")], ProbeOptions(timeout=1))
    out = io.StringIO()
    render_rich([report], out)
    assert "[no state, no ss]" in out.getvalue() and "587" in out.getvalue()


def test_views_show_versions_weak_classes_and_certificate(fake_server: Callable,
                                                          pki: tuple[Path, ...]) -> None:
    from fakeserver import server_context

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        weak = server_context(pki[1], pki[2], minimum=ssl.TLSVersion.TLSv1,
                              ciphers="ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    server = fake_server("smtp", context=weak, implicit=True, starttls=False)
    target = Target("t", "127.0.0.1", (
        Exp(server.port, "submissions", "public", "implicit", "after-tls", "pf.465"),),
        state_known=True)
    [report] = audit([target], ProbeOptions(timeout=2, cafile=str(pki[0])))
    out = io.StringIO()
    render_plain([report], out)
    text = out.getvalue()
    row = next(line for line in text.splitlines() if line.startswith(str(server.port)))
    assert "implicit 1.3" in row and "1.0 1.1 1.2 1.3" in row and "anon, NULL" in row
    assert "verified name ok" in row
    assert (f"certificate on {server.port}: CN=mail.test; DNS:localhost, IP:127.0.0.1; "
            in text)
    assert "expected 127.0.0.1: matches; chain verified" in text
    assert f"error: {server.port} (submissions) accepts TLSv1.0, TLSv1.1 where TLS is " \
           "mandatory" in text
    document = json.loads(json.dumps(report_json([report])))
    [port] = [p for p in document["hosts"][0]["ports"] if p["port"] == server.port]
    assert port["scan"]["versions"] == ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    assert [w["kind"] for w in port["scan"]["weak"]] == ["anonymous", "null"]
    assert port["tls"]["expected_name"] == "127.0.0.1" and port["tls"]["name_matched"] is True
    assert document["hosts"][0]["expected_name"] == "127.0.0.1"
    assert document["counts"]["error"] == 3  # old versions, anonymous, NULL
