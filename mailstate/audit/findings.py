"""Judge what the probes saw: against the desired state, and against plain mail hygiene.

Two sources of findings, kept apart so each reads on its own:
- `expectation_findings`: the host differs from what its desired state implies (a port
  that should be closed answers, 587 does not require STARTTLS, ...). Always errors: the
  state is the admin's own statement of intent.
- `hygiene_findings`: true of any mail server, with or without a state (a password
  accepted before TLS, a certificate that does not verify, name the host or expires, an
  implicit-TLS port that does not speak TLS, old TLS versions and weak ciphers).

Old versions and weak ciphers weigh by whether TLS is mandatory on the port. Where it
is (implicit TLS, submission with `encrypt`, a login that waits for STARTTLS) they are
errors: the session carries passwords and mail that must not be readable. On an
opportunistic port (25 with `may`) they are information: any TLS beats the plaintext
the peer would use otherwise (RFC 3207, RFC 7435), and an active attacker can strip
STARTTLS there anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailstate.audit.results import CertInfo, PortObservation, TlsInfo, TlsScan, WeakCipher
from mailstate.audit.suites import WEAK_LABELS
from mailstate.diagnostics import Diagnostic, Severity
from mailstate.expectations import ListenerExpectation

EXPIRY_WARNING_DAYS = 21
OLD_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1"}
POSTFIX_CIPHER_NAMES = {"anonymous": "aNULL", "export": "EXPORT", "null": "eNULL",
                        "rc4": "RC4", "3des": "3DES"}
OPPORTUNISTIC = ("opportunistic TLS (RFC 3207, RFC 7435): a peer that cannot do better "
                 "still gets encryption instead of plaintext, and an active attacker "
                 "can strip STARTTLS here anyway")
IMPLICIT_SERVICES = {"submissions", "smtps", "imaps", "pop3s"}
CLEARTEXT_MAILBOX = {"imap", "pop3"}
SMTP_SERVICES = {"smtp", "submission", "submissions", "smtps"}
REFERENCE = "MAIL-FACTS.md; RFC 8314 (implicit TLS), RFC 3207 (STARTTLS)"


def _finding(severity: Severity, code: str, obs: PortObservation, summary: str,
             detail: str = "", fix: str = "", source: str = "",
             reference: str = "", ports: tuple[int, ...] = ()) -> Diagnostic:
    extra: dict[str, object] = {"port": obs.port, "service": obs.service}
    if source:
        extra["source"] = source
    if len(ports) > 1:
        extra["ports"] = list(ports)
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

def tls_mandatory(obs: PortObservation, expected: Sequence[ListenerExpectation] = ()) -> bool:
    """TLS is required on this port: implicit TLS, the state says so, or the server
    refuses mail/logins before STARTTLS."""
    if obs.service in IMPLICIT_SERVICES:
        return True
    if any(e.tls in ("implicit", "starttls-required") for e in expected):
        return True
    return obs.tls_required is True


def certificate_ports(observations: Sequence[PortObservation]
                      ) -> dict[int, tuple[int, ...]]:
    """port -> the ports serving its certificate, for the first port serving it; () for
    the others. One certificate on five ports is one problem, reported once."""
    serving: dict[CertInfo, list[int]] = {}
    for obs in observations:
        if obs.tls is not None and obs.tls.cert is not None:
            serving.setdefault(obs.tls.cert, []).append(obs.port)
    result: dict[int, tuple[int, ...]] = {obs.port: (obs.port,) for obs in observations}
    for ports in serving.values():
        result.update({port: () for port in ports[1:]})
        result[ports[0]] = tuple(ports)
    return result


def hygiene_findings(obs: PortObservation, cafile: str | None,
                     expected: Sequence[ListenerExpectation] = (),
                     cert_ports: tuple[int, ...] | None = None) -> list[Diagnostic]:
    """Findings that need no desired state (`expected` only tells whether TLS is
    mandatory when the port itself does not show it). `cert_ports`: the ports serving
    this port's certificate (`certificate_ports`); () = reported on another port."""
    if obs.state != "open":
        return []
    found = _login_findings(obs)
    implicit = obs.service in IMPLICIT_SERVICES
    mandatory = tls_mandatory(obs, expected)
    if obs.error:
        failed = "TLS" in obs.error or implicit
        found.append(_finding("error" if failed else "warning", "probe-failed", obs,
                              f"{obs.port} ({obs.service}): {obs.error}"))
    elif obs.tls is not None:
        found.extend(tls_hygiene(obs, obs.tls, cafile, mandatory, cert_ports))
    elif obs.starttls is False:
        severity: Severity = "warning" if obs.service in SMTP_SERVICES else "error"
        found.append(_finding(severity, "starttls-missing", obs,
                              f"{obs.port} ({obs.service}) offers no TLS at all"))
    if obs.scan is not None:
        found.extend(scan_findings(obs, obs.scan, mandatory))
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


def tls_hygiene(obs: PortObservation, tls: TlsInfo, cafile: str | None,
                mandatory: bool = True, cert_ports: tuple[int, ...] | None = None
                ) -> list[Diagnostic]:
    """The negotiated version when no scan ran; certificate chain, name and expiry,
    said once for all `cert_ports` (default: this port; () when another port reports
    this certificate)."""
    if cert_ports is None:
        cert_ports = (obs.port,)
    found = []
    if tls.protocol in OLD_PROTOCOLS and obs.scan is None:
        found.append(_finding("error" if mandatory else "info", "tls-old", obs,
                              f"{obs.port} negotiated {tls.protocol}",
                              detail="" if mandatory else OPPORTUNISTIC,
                              fix=_version_fix(obs) if mandatory else ""))
    if cert_ports and tls.cert is not None:
        found.extend(_certificate_findings(obs, tls, tls.cert, cafile, cert_ports))
    return found


def _certificate_findings(obs: PortObservation, tls: TlsInfo, cert: CertInfo,
                          cafile: str | None, ports: tuple[int, ...]) -> list[Diagnostic]:
    where = f"certificate on {', '.join(map(str, ports))}"
    found = []
    if tls.verified is False:
        found.append(_finding("error", "cert-unverified", obs,
                              f"{where} does not verify against {cafile}",
                              detail=tls.verify_error, ports=ports))
    if tls.name_matched is False:
        names = ", ".join(cert.san) or f"no subjectAltName (subject {cert.subject})"
        found.append(_finding("error", "cert-name-mismatch", obs,
                              f"{where} is not valid for {tls.expected_name}",
                              detail=f"it names {names}; clients connecting to "
                                     f"{tls.expected_name} refuse it",
                              fix="issue the certificate for that name, or set the host "
                                  "variable mail_hostname to the name clients use",
                              reference="RFC 6125 section 6.4", ports=ports))
    if cert.days_left < 0:
        found.append(_finding("error", "cert-expired", obs,
                              f"{where} expired on {cert.not_after}", ports=ports))
    elif cert.days_left < EXPIRY_WARNING_DAYS:
        found.append(_finding("warning", "cert-expiring", obs,
                              f"{where} expires in {cert.days_left} days ({cert.not_after})",
                              ports=ports))
    return found


# --- the TLS scan: versions and weak cipher classes ---------------------------------

def scan_findings(obs: PortObservation, scan: TlsScan, mandatory: bool) -> list[Diagnostic]:
    """Old versions and weak ciphers the port accepts; a scan that did not finish."""
    found = []
    severity: Severity = "error" if mandatory else "info"
    old = [v for v in scan.versions if v in OLD_PROTOCOLS]
    if old:
        where = "where TLS is mandatory" if mandatory else "(opportunistic TLS)"
        found.append(_finding(severity, "tls-version-old", obs,
                              f"{obs.port} ({obs.service}) accepts {', '.join(old)} {where}",
                              detail="" if mandatory else OPPORTUNISTIC,
                              fix=_version_fix(obs) if mandatory else "",
                              reference="RFC 8996 (TLS 1.0 and 1.1 deprecated)"))
    found.extend(_weak_finding(obs, hit, mandatory) for hit in scan.weak)
    if scan.error and not obs.error:
        found.append(_finding("warning", "tls-scan-incomplete", obs,
                              f"{obs.port} TLS scan incomplete: {scan.error}"))
    negotiated = _scan_version_name(obs.tls.protocol) if obs.tls else ""
    if negotiated and scan.versions and negotiated not in scan.versions:
        found.append(_finding("warning", "tls-scan-incomplete", obs,
                              f"{obs.port} negotiated {negotiated}, which the scan did "
                              f"not see accepted ({', '.join(scan.versions)})"))
    return found


def _scan_version_name(protocol: str) -> str:
    """Python's ssl says `TLSv1` where the scan (and nmap) say `TLSv1.0`."""
    return "TLSv1.0" if protocol == "TLSv1" else protocol


def _weak_finding(obs: PortObservation, hit: WeakCipher, mandatory: bool) -> Diagnostic:
    label = WEAK_LABELS.get(hit.kind, hit.kind)
    postfix = POSTFIX_CIPHER_NAMES.get(hit.kind, hit.kind)
    if obs.service in SMTP_SERVICES:
        fix = f"smtpd_tls_mandatory_exclude_ciphers = {postfix} (Postfix, with the others)"
    else:
        fix = f"add !{postfix} to ssl_cipher_list (Dovecot)"
    return _finding("error" if mandatory else "info", "weak-cipher", obs,
                    f"{obs.port} ({obs.service}) accepts {label} cipher suites "
                    f"({hit.suite}, {hit.version})",
                    detail="" if mandatory else OPPORTUNISTIC,
                    fix=fix if mandatory else "", reference=_WEAK_REFERENCES.get(hit.kind, ""))


_WEAK_REFERENCES = {"anonymous": "RFC 5246 appendix F.1.1.1 (no authentication: "
                                 "open to a man in the middle)",
                    "export": "RFC 5246 appendix A.5 (40/56-bit keys; FREAK, Logjam)",
                    "null": "RFC 5246 appendix A.5 (no encryption at all)",
                    "rc4": "RFC 7465 (RC4 prohibited)",
                    "3des": "SWEET32 (CVE-2016-2183): 64-bit blocks"}


def _version_fix(obs: PortObservation) -> str:
    if obs.service in SMTP_SERVICES:
        return ("smtpd_tls_mandatory_protocols = >=TLSv1.2 (Postfix; it applies to 465 "
                "and to services with smtpd_tls_security_level = encrypt)")
    return "ssl_min_protocol = TLSv1.2 (Dovecot)"

