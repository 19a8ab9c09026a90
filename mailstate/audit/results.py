"""What a probe saw, as plain frozen data.

Probes only observe; judging what they saw is `audit.findings`' job, and rendering it is
`audit.view`'s. Keeping observations as data lets the tests build them by hand and the
JSON output carry exactly what the table shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mailstate.diagnostics import Diagnostic
from mailstate.expectations import ListenerExpectation

PortState = Literal["open", "closed", "filtered", "unreachable"]


def shown(text: str) -> str:
    """Text a server chose (certificate names, replies), safe to print: control
    characters (a terminal escape sequence in a SAN) become visible escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class CertInfo:
    """The facts of the server's leaf certificate an admin looks at first."""

    subject: str
    issuer: str
    san: tuple[str, ...]
    not_before: str
    not_after: str
    days_left: int


@dataclass(frozen=True)
class TlsInfo:
    """One TLS session: negotiated protocol and cipher, the certificate, verification.

    `verified`: the chain against `--cafile` (None without one: nothing to verify
    against). `name_matched`: the certificate names `expected_name`, the name clients
    connect to (`audit.certname`), whatever address the probe used.
    """

    mode: Literal["starttls", "implicit"]
    protocol: str
    cipher: str
    cert: CertInfo | None
    verified: bool | None = None
    verify_error: str = ""
    expected_name: str = ""
    name_matched: bool | None = None  # None = no certificate to look at


@dataclass(frozen=True)
class WeakCipher:
    """A weak class of cipher suites the server accepted: the suite it picked, and when."""

    kind: str  # one of audit.suites.WEAK_CLASSES
    version: str
    suite: str


@dataclass(frozen=True)
class TlsScan:
    """Every TLS version a port accepts and the weak cipher classes it picks.

    From hand-written ClientHellos (`audit.scan`), independent of what this machine's
    OpenSSL can negotiate. `error` says why the scan stopped early (what it found
    until then is kept).
    """

    versions: tuple[str, ...]  # oldest first: SSLv3, TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3
    weak: tuple[WeakCipher, ...] = ()
    error: str = ""
    handshakes: int = 0
    elapsed_ms: int = 0

    @property
    def weak_classes(self) -> tuple[str, ...]:
        return tuple(w.kind for w in self.weak)


@dataclass(frozen=True)
class PortObservation:
    """A mail port as seen from the network.

    `login_before_tls`: the server lets a client send credentials before TLS (SMTP AUTH
    in the plaintext EHLO, IMAP without LOGINDISABLED, POP3 USER or a plaintext SASL
    mechanism). `tls_required`: the server refuses mail/logins until STARTTLS (SMTP
    answers MAIL with 530). `auth_after_tls`: a login is offered inside TLS. None = not
    determined (port closed, no TLS, probe failed).
    """

    port: int
    service: str
    state: PortState
    banner: str = ""
    capabilities: tuple[str, ...] = ()
    capabilities_tls: tuple[str, ...] = ()
    starttls: bool | None = None
    tls_required: bool | None = None
    login_before_tls: bool | None = None
    auth_before_tls: tuple[str, ...] = ()
    auth_after_tls: bool | None = None
    tls: TlsInfo | None = None
    scan: TlsScan | None = None
    error: str = ""
    elapsed_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PortReport:
    """One port of one host: what was expected, seen, and judged."""

    observation: PortObservation
    expectation: ListenerExpectation | None
    local_addresses: tuple[str, ...] | None  # from `ss` on the host; None = not checked
    findings: tuple[Diagnostic, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.observation.to_json(),
            "expected": self.expectation.to_json() if self.expectation else None,
            "listening_on": list(self.local_addresses)
            if self.local_addresses is not None else None,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class HostReport:
    """The audit of one host. `findings` holds host-level ones (SSH failed, ...)."""

    name: str
    address: str
    ports: tuple[PortReport, ...]
    findings: tuple[Diagnostic, ...] = ()
    ssh_checked: bool = False
    state_known: bool = False
    expected_name: str = ""  # the name certificates must carry

    def all_findings(self) -> list[Diagnostic]:
        found = list(self.findings)
        for port in self.ports:
            found.extend(port.findings)
        return found

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.all_findings())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "address": self.address, "ok": self.ok,
            "expected_name": self.expected_name,
            "ssh_checked": self.ssh_checked, "state_known": self.state_known,
            "ports": [p.to_json() for p in self.ports],
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class ProbeOptions:
    """Run-wide probe settings."""

    timeout: float = 5.0
    cafile: str | None = None
    concurrency: int = 16
    ehlo_name: str = "mailstate-audit.invalid"
    scan_tls: bool = True  # every version and weak cipher class (audit.scan)
