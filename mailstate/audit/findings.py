"""Judge what the probes saw: against the desired state, and against plain mail hygiene.

Two sources of findings, kept apart so each reads on its own:
- `expectation_findings`: the host differs from what its desired state implies (a port
  that should be closed answers, 587 does not require STARTTLS, ...). Always errors: the
  state is the admin's own statement of intent.
- `hygiene_findings`: true of any mail server, with or without a state (a password
  accepted before TLS, a certificate that does not verify or expires, an implicit-TLS
  port that does not speak TLS).
"""

from __future__ import annotations

from mailstate.audit.results import PortObservation, TlsInfo
from mailstate.diagnostics import Diagnostic, Severity
from mailstate.expectations import ListenerExpectation

EXPIRY_WARNING_DAYS = 14
OLD_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"}
IMPLICIT_SERVICES = {"submissions", "smtps", "imaps", "pop3s"}
CLEARTEXT_MAILBOX = {"imap", "pop3"}
SMTP_SERVICES = {"smtp", "submission", "submissions", "smtps"}
REFERENCE = "MAIL-FACTS.md; RFC 8314 (implicit TLS), RFC 3207 (STARTTLS)"


def _finding(severity: Severity, code: str, obs: PortObservation, summary: str,
             detail: str = "", fix: str = "", source: str = "",
             reference: str = "") -> Diagnostic:
    extra: dict[str, object] = {"port": obs.port, "service": obs.service}
    if source:
        extra["source"] = source
    return Diagnostic(severity, summary, detail=detail, fix=fix, reference=reference,
                      code=code, extra=extra)


# --- against the desired state ---------------------------------------------------------

def expectation_findings(obs: PortObservation, exp: ListenerExpectation,
                         local: tuple[str, ...] | None, target_is_loopback: bool
                         ) -> list[Diagnostic]:
    """Where the port contradicts what `exp` says; `local` = addresses from `ss`, if any."""
    found = _reach_findings(obs, exp, local, target_is_loopback)
    if obs.state == "open" and (exp.reach == "public" or target_is_loopback):
        found.extend(_tls_findings(obs, exp))
        found.extend(_auth_findings(obs, exp))
    return found


def _reach_findings(obs: PortObservation, exp: ListenerExpectation,
                    local: tuple[str, ...] | None, target_is_loopback: bool
                    ) -> list[Diagnostic]:
    src = f"implied by {exp.source}"
    is_open = obs.state == "open"
    should_answer = exp.reach == "public" or (exp.reach == "localhost" and target_is_loopback)
    if should_answer and not is_open:
        where = f"; on the host it listens on {', '.join(local)}" if local else ""
        return [_finding("error", "port-closed", obs,
                         f"{obs.port} ({exp.service}) should be reachable and is {obs.state}",
                         detail=f"{src}{where}", source=exp.source,
                         fix="check the service is enabled and the daemon was reloaded")]
    if is_open and not should_answer:
        wanted = "localhost only" if exp.reach == "localhost" else "closed"
        return [_finding("error", "port-open", obs,
                         f"{obs.port} ({exp.service}) is reachable from outside "
                         f"but should be {wanted}", detail=src, source=exp.source)]
    return []


def _tls_findings(obs: PortObservation, exp: ListenerExpectation) -> list[Diagnostic]:
    src = f"implied by {exp.source}"
    found = []
    if exp.tls in ("starttls-required", "starttls-optional") and obs.starttls is False:
        found.append(_finding("error", "starttls-missing", obs,
                              f"{obs.port} does not offer STARTTLS", detail=src,
                              source=exp.source))
    if exp.tls == "starttls-required" and obs.tls_required is False:
        what = "accepts MAIL" if exp.service in SMTP_SERVICES else "accepts a login"
        found.append(_finding("error", "tls-not-required", obs,
                              f"{obs.port} {what} before STARTTLS but should require TLS",
                              detail=src, source=exp.source))
    if exp.tls == "none" and obs.starttls:
        found.append(_finding("info", "starttls-offered", obs,
                              f"{obs.port} offers STARTTLS though the state disables TLS",
                              detail=src, source=exp.source))
    if exp.tls == "implicit" and obs.tls is None and not obs.error:
        found.append(_finding("error", "tls-missing", obs,
                              f"{obs.port} did not start TLS at once", detail=src,
                              source=exp.source))
    return found


def _auth_findings(obs: PortObservation, exp: ListenerExpectation) -> list[Diagnostic]:
    src = f"implied by {exp.source}"
    if exp.auth == "after-tls" and obs.auth_after_tls is False:
        return [_finding("error", "auth-missing", obs,
                         f"{obs.port} offers no AUTH after TLS", detail=src, source=exp.source,
                         fix="a SASL backend is needed: smtpd_sasl_type = dovecot, "
                             "smtpd_sasl_path = private/auth and Dovecot's auth "
                             "unix_listener (MAIL-FACTS.md #10)")]
    if exp.auth == "never" and (obs.login_before_tls or obs.auth_after_tls):
        return [_finding("error", "auth-offered", obs,
                         f"{obs.port} offers AUTH but the state disables it", detail=src,
                         source=exp.source)]
    return []


# --- true of any mail server -----------------------------------------------------------

def hygiene_findings(obs: PortObservation, cafile: str | None) -> list[Diagnostic]:
    """Findings that need no desired state."""
    if obs.state != "open":
        return []
    found = _login_findings(obs)
    implicit = obs.service in IMPLICIT_SERVICES
    if obs.error:
        failed = "TLS" in obs.error or implicit
        found.append(_finding("error" if failed else "warning", "probe-failed", obs,
                              f"{obs.port} ({obs.service}): {obs.error}"))
    elif obs.tls is not None:
        found.extend(tls_hygiene(obs, obs.tls, cafile))
    elif obs.starttls is False:
        severity: Severity = "warning" if obs.service in SMTP_SERVICES else "error"
        found.append(_finding(severity, "starttls-missing", obs,
                              f"{obs.port} ({obs.service}) offers no TLS at all"))
    return found


def _login_findings(obs: PortObservation) -> list[Diagnostic]:
    if obs.login_before_tls is False and obs.service in CLEARTEXT_MAILBOX:
        return [_finding("warning", "cleartext-port", obs,
                         f"{obs.port} ({obs.service}) starts in cleartext, TLS optional "
                         "(logins refused before STARTTLS)",
                         detail="a misconfigured client may still send its password "
                                "before the server refuses it",
                         fix=f"close it (inet_listener {obs.service} {{ port = 0 }}) and "
                             "use implicit TLS on 993/995", reference="RFC 8314 section 3")]
    if not obs.login_before_tls:
        return []
    mechanisms = " ".join(obs.auth_before_tls)
    if obs.service in SMTP_SERVICES:
        return [_finding("error", "auth-before-tls", obs,
                         f"{obs.port} ({obs.service}) offers AUTH before TLS ({mechanisms})",
                         detail="passwords can be sent in the clear",
                         fix="smtpd_tls_auth_only = yes, or -o smtpd_tls_security_level="
                             "encrypt on the submission service", reference=REFERENCE)]
    fix = ("disable_plaintext_auth = yes (Dovecot), or close the port: "
           f"inet_listener {obs.service} {{ port = 0 }}")
    return [_finding("error", "plaintext-login", obs,
                     f"{obs.port} ({obs.service}) accepts a plaintext login before TLS "
                     f"({mechanisms})", detail="passwords can be sent in the clear", fix=fix)]


def tls_hygiene(obs: PortObservation, tls: TlsInfo, cafile: str | None) -> list[Diagnostic]:
    """Certificate verification, expiry, protocol version."""
    found = []
    if tls.verified is False:
        found.append(_finding("error", "cert-unverified", obs,
                              f"{obs.port} certificate does not verify against {cafile}",
                              detail=tls.verify_error))
    if tls.cert is not None:
        if tls.cert.days_left < 0:
            found.append(_finding("error", "cert-expired", obs,
                                  f"{obs.port} certificate expired on {tls.cert.not_after}"))
        elif tls.cert.days_left < EXPIRY_WARNING_DAYS:
            found.append(_finding("warning", "cert-expiring", obs,
                                  f"{obs.port} certificate expires in {tls.cert.days_left} "
                                  f"days ({tls.cert.not_after})"))
    if tls.protocol in OLD_PROTOCOLS:
        found.append(_finding("error", "tls-old", obs,
                              f"{obs.port} negotiated {tls.protocol}",
                              fix="smtpd_tls_mandatory_protocols / ssl_min_protocol = TLSv1.2"))
    return found

