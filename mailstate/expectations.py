"""What listening sockets a desired state implies, and whether a host has exactly those.

Two consumers need the same answer to "which mail ports should be open, where, with what
TLS and AUTH": the engine after a reload (it compares `ss -ltnH` on the host and rolls
back on a mismatch) and `mailstate audit` (it probes from the network). Deriving the
expectations in one place keeps the two from disagreeing.

Only ports the state says something about are expected: a master.cf `inet` service it
names, a Dovecot `inet_listener` it configures. Everything else is left to the audit's
state-independent checks. Postfix and Dovecot defaults are applied where the state does
not say (main.cf `inet_interfaces = all`, Dovecot `listen = *, ::`, the listener's
default port), because that is what the daemons do.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mailstate.diagnostics import Diagnostic

if TYPE_CHECKING:
    from mailstate.model import MailState

Reach = Literal["public", "localhost", "closed"]
Tls = Literal["none", "starttls-optional", "starttls-required", "implicit"]
Auth = Literal["never", "after-tls"]

POSTFIX_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}
SMTP_SERVICE_BY_PORT = {25: "smtp", 587: "submission", 465: "submissions"}
DOVECOT_DEFAULT_PORTS = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
DOVECOT_LOGIN_PROTOCOL = {"imap-login": "imap", "pop3-login": "pop3"}
LOOPBACK_NAMES = {"localhost", "loopback-only", "localhost.localdomain", "ip6-localhost"}
WILDCARD_ADDRESSES = {"*", "::", "[::]", "0.0.0.0", "all"}
TRUE_WORDS = {"yes", "true", "1", "on"}


@dataclass(frozen=True)
class ListenerExpectation:
    """One port the desired state says something about.

    `reach`: public = listens on a non-loopback address; localhost = only on 127.0.0.1
    or ::1; closed = not listening at all. `tls`/`auth` are None when the state does not
    determine them. `source` names the setting that implies the expectation.
    """

    port: int
    service: str
    reach: Reach
    tls: Tls | None
    auth: Auth | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "service": self.service, "reach": self.reach,
                "tls": self.tls, "auth": self.auth, "source": self.source}


def expected_listeners(state: MailState) -> list[ListenerExpectation]:
    """Every listener the state implies, sorted by port (Postfix before Dovecot on ties)."""
    found: list[ListenerExpectation] = []
    if getattr(state, "postfix", None) is not None:
        found.extend(_postfix_listeners(state.postfix))
    dovecot = getattr(state, "dovecot", None)
    if dovecot is not None:
        found.extend(_dovecot_listeners(dovecot.settings_flat()))
    return sorted(found, key=lambda e: e.port)


# --- addresses -------------------------------------------------------------------------

def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1, ::ffff:127.x and the usual loopback names."""
    text = address.strip().strip("[]").split("%", 1)[0].lower()
    if text in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def reach_of_addresses(value: str | None) -> Reach:
    """`localhost` when every address in a list (`127.0.0.1, ::1`) is loopback."""
    if value is None:
        return "public"
    parts = [p for p in value.replace(",", " ").split() if p]
    if parts and all(is_loopback(p) for p in parts):
        return "localhost"
    return "public"


# --- Postfix ---------------------------------------------------------------------------

def postfix_service_port(name: str) -> tuple[int | None, str | None]:
    """master.cf inet service name -> (port, host part). Unknown names give port None.

    `smtp`, `2525`, `127.0.0.1:10025`, `[::1]:587`, `localhost:submission`.
    """
    host: str | None = None
    service = name
    if ":" in name:
        host, service = name.rsplit(":", 1)
        host = host.strip("[]")
    if service.isdigit():
        port = int(service)
        return (port if 0 < port < 65536 else None), host
    if service in POSTFIX_PORTS:
        return POSTFIX_PORTS[service], host
    try:
        return socket.getservbyname(service, "tcp"), host
    except OSError:
        return None, host


def _postfix_listeners(postfix: Any) -> list[ListenerExpectation]:
    main = dict(postfix.main_values()) if hasattr(postfix, "main_values") else {}
    master: Mapping[str, Any] = getattr(postfix, "master", None) or {}
    result = []
    for key, service in master.items():
        name, _, kind = key.rpartition("/")
        if kind != "inet":
            continue
        port, host = postfix_service_port(name)
        if port is None:
            continue
        source = f"postfix.master.{key}"
        if getattr(service, "absent", False):
            result.append(ListenerExpectation(port, _smtp_label(port, {}), "closed",
                                              None, None, source))
            continue
        options = {k: getattr(v, "get_secret_value", lambda v=v: v)()  # a !secret option
                   for k, v in (getattr(service, "options", None) or {}).items()}
        reach = reach_of_addresses(host) if host else _inet_interfaces_reach(main)
        tls = _smtpd_tls(options, main)
        result.append(ListenerExpectation(port, _smtp_label(port, options), reach, tls,
                                          _smtpd_auth(options, main, tls), source))
    return result


def _smtp_label(port: int, options: Mapping[str, str | None]) -> str:
    if port in SMTP_SERVICE_BY_PORT:
        return SMTP_SERVICE_BY_PORT[port]
    return "submissions" if _is_yes(options.get("smtpd_tls_wrappermode")) else "smtp"


def _inet_interfaces_reach(main: Mapping[str, str | None]) -> Reach:
    value = main.get("inet_interfaces")
    if value is None or value.strip() in ("", "all"):
        return "public"
    return reach_of_addresses(value)


def _setting(options: Mapping[str, str | None], main: Mapping[str, str | None],
             key: str) -> str | None:
    """A `-o` option wins over main.cf; `None` means the state does not say."""
    if options.get(key) is not None:
        return options[key]
    return main.get(key)


def _is_yes(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUE_WORDS


def _smtpd_tls(options: Mapping[str, str | None], main: Mapping[str, str | None]) -> Tls | None:
    if _is_yes(_setting(options, main, "smtpd_tls_wrappermode")):
        return "implicit"
    level = _setting(options, main, "smtpd_tls_security_level")
    if level is not None:
        level = level.strip().lower()
        if level == "encrypt":
            return "starttls-required"
        if level == "may":
            return "starttls-optional"
        if level in ("none", ""):
            return "none"
        return None
    if _is_yes(_setting(options, main, "smtpd_enforce_tls")):
        return "starttls-required"
    if _is_yes(_setting(options, main, "smtpd_use_tls")):
        return "starttls-optional"
    return None


def _smtpd_auth(options: Mapping[str, str | None], main: Mapping[str, str | None],
                tls: Tls | None) -> Auth | None:
    enabled = _setting(options, main, "smtpd_sasl_auth_enable")
    if enabled is None:
        return None
    if not _is_yes(enabled):
        return "never"
    if tls in ("implicit", "starttls-required"):
        return "after-tls"
    if _is_yes(_setting(options, main, "smtpd_tls_auth_only")):
        return "after-tls"
    return None


# --- Dovecot ---------------------------------------------------------------------------

def _dovecot_listeners(settings: Mapping[tuple[str, ...], str | None]
                       ) -> list[ListenerExpectation]:
    listeners: dict[tuple[str, str], dict[str, str | None]] = {}
    for path, value in settings.items():
        if len(path) != 3 or not path[0].startswith("service "):
            continue
        if not path[1].startswith("inet_listener "):
            continue
        listeners.setdefault((path[0], path[1]), {})[path[2]] = value
    default_listen = reach_of_addresses(settings.get(("listen",)))
    protocols = _protocols(settings.get(("protocols",)))
    global_ssl = (settings.get(("ssl",)) or "").strip().lower() or None
    plaintext_disabled = settings.get(("disable_plaintext_auth",))
    if plaintext_disabled is None and settings.get(("auth_allow_cleartext",)) is not None:
        # Dovecot 2.4's spelling, inverted (mailstate.releases writes either for the host)
        plaintext_disabled = "no" if _is_yes(settings.get(("auth_allow_cleartext",))) else "yes"
    result = []
    for (service_section, listener_section), values in listeners.items():
        login = service_section.split(" ", 1)[1].strip()
        name = listener_section.split(" ", 1)[1].strip()
        port = _dovecot_port(name, values.get("port"))
        if port is None:
            continue
        source = f"dovecot.{service_section}/{listener_section}"
        label = name if name in DOVECOT_DEFAULT_PORTS else DOVECOT_LOGIN_PROTOCOL.get(login, name)
        protocol = DOVECOT_LOGIN_PROTOCOL.get(login)
        disabled = protocols is not None and protocol is not None and protocol not in protocols
        if port == 0 or disabled:
            default_port = DOVECOT_DEFAULT_PORTS.get(name)
            if default_port is None:
                continue
            result.append(ListenerExpectation(default_port, label, "closed", None, None, source))
            continue
        address = values.get("address") or values.get("listen")  # 2.3 / 2.4 spelling
        reach = reach_of_addresses(address) if address is not None else default_listen
        implicit = _is_yes(values.get("ssl")) or name in ("imaps", "pop3s")
        tls, auth = _dovecot_tls_auth(implicit, global_ssl, plaintext_disabled)
        result.append(ListenerExpectation(port, label, reach, tls, auth, source))
    return result


def _dovecot_port(name: str, value: str | None) -> int | None:
    if value is None:
        return DOVECOT_DEFAULT_PORTS.get(name)
    text = value.strip()
    if not text.isdigit() or int(text) > 65535:
        return None
    return int(text)


def _protocols(value: str | None) -> set[str] | None:
    """The protocols a `protocols` setting enables; None when it is unknown (`$protocols`)."""
    if value is None or "$" in value:
        return None
    return set(value.replace(",", " ").split())


def _dovecot_tls_auth(implicit: bool, ssl: str | None,
                      plaintext_disabled: str | None) -> tuple[Tls | None, Auth | None]:
    if implicit:
        return "implicit", "after-tls"
    tls: Tls | None = None
    if ssl == "no":
        tls = "none"
    elif ssl == "yes":
        tls = "starttls-optional"
    elif ssl == "required":
        tls = "starttls-required"
    if tls == "starttls-required" or _is_yes(plaintext_disabled):
        return tls, "after-tls"
    return tls, None


# --- checking a host's sockets ---------------------------------------------------------

@dataclass(frozen=True)
class Socket:
    """One listening TCP socket from `ss -ltnH`."""

    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)


def parse_ss(output: str) -> list[Socket]:
    """Listening sockets from `ss -ltnH` (or `ss -ltn` with its header line).

    Local Address:Port forms: `0.0.0.0:25`, `127.0.0.1:993`, `[::]:993`, `[::1]:25`,
    `*:993`, `127.0.0.53%lo:53`, `[fe80::1]%eth0:22`.
    """
    sockets = []
    for line in output.splitlines():
        fields = line.split()
        if fields and fields[0] in ("tcp", "tcp6"):
            fields = fields[1:]
        if len(fields) < 4 or fields[0] in ("State", "Netid"):
            continue
        if fields[0].isalpha():
            if fields[0] != "LISTEN":
                continue
            fields = fields[1:]
        address, sep, port = fields[2].rpartition(":")
        if not sep or not port.isdigit():
            continue
        address = address.split("%", 1)[0].strip("[]")
        sockets.append(Socket(address, int(port)))
    return sockets


def check_listeners(expected: list[ListenerExpectation], ss_output: str) -> list[Diagnostic]:
    """Error diagnostics for each expectation the host's listening sockets contradict."""
    sockets = parse_ss(ss_output)
    problems = []
    for exp in expected:
        bound = sorted({s.address for s in sockets if s.port == exp.port})
        summary = _listener_mismatch(exp, bound)
        if summary is None:
            continue
        problems.append(Diagnostic(
            "error", summary, code="listener",
            detail=f"implied by {exp.source} ({exp.service}, expected {exp.reach}); "
                   f"listening on: {', '.join(bound) or 'nothing'}",
            extra={"port": exp.port, "service": exp.service, "expected": exp.reach,
                   "listening": bound, "source": exp.source},
        ))
    return problems


def _listener_mismatch(exp: ListenerExpectation, bound: list[str]) -> str | None:
    public = [a for a in bound if not is_loopback(a)]
    if exp.reach == "closed":
        if bound:
            return f"{exp.port} listens on {', '.join(bound)} but should be closed"
        return None
    if not bound:
        return f"{exp.port} should be listening and is not"
    if exp.reach == "localhost" and public:
        return f"{exp.port} listens on {', '.join(public)} but should be localhost only"
    if exp.reach == "public" and not public:
        return (f"{exp.port} listens only on {', '.join(bound)} "
                "but should be reachable from outside")
    return None
