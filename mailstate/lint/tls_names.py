"""Does Roundcube verify the certificate its mail servers serve, by a name it carries?

Roundcube (PHP streams) checks the IMAP and SMTP certificates against `peer_name` from
`imap_conn_options` / `smtp_conn_options`, else the host of `imap_host` / `smtp_host`.
Connecting to the local listeners (`localhost`, `127.0.0.1`) therefore fails with any
certificate a public CA issues: those never name localhost or an address. Two checks:

- `roundcube-peer-name` (lint, no SSH): a local TLS target verified against localhost or
  an address (no `peer_name`, or one that is not a DNS name) is a warning; the profile
  variable `mail_hostname` left at its default is `mail-hostname-unset`.
- the same rule at plan time (`certificate_problems`), when the certificate is known:
  the engine reads the certificate Dovecot (IMAP) and Postfix (SMTP) will serve after
  the change and compares its names with the name Roundcube verifies, as PHP does
  (subjectAltName, then the subject CN). A mismatch is an error: applying it would
  break every webmail login or every message sent from webmail.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mailstate.audit.certname import name_matches
from mailstate.diagnostics import Diagnostic, Location
from mailstate.lint.cross_rules import _URL, LOCAL, _targets
from mailstate.lint.registry import Finding, rule
from mailstate.lint.view import StateView
from mailstate.model.layers import resolve_variables

PEER_REFERENCE = ("PHP SSL context options peer_name https://www.php.net/manual/en/"
                  "context.ssl.php; Roundcube 1.6 config/defaults.inc.php imap_conn_options; "
                  "MAIL-FACTS 'Production realities'")
MAIL_HOSTNAME = "mail_hostname"
UNSET_HOSTNAME = "localhost"  # the hardened profile's default: "not set for this host"
# Which daemon serves the certificate behind each Roundcube target.
SERVICE = {"imap_host": "imap", "smtp_host": "smtp"}
# What Roundcube 1.6 shows the user then (its en_US storageerror and smtpconnerror).
WHAT_FAILS = {"imap_host": "webmail logins fail (\"Connection to storage server failed.\")",
              "smtp_host": "sending from webmail fails (\"SMTP Error (): Connection to "
                           "server failed.\")"}
PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


@dataclass(frozen=True)
class Peer:
    """One TLS target of Roundcube and the name its certificate is verified against."""

    key: str          # imap_host | smtp_host
    url: str
    host: str         # what Roundcube connects to
    name: str         # what PHP verifies: peer_name, else host
    from_peer_name: bool

    @property
    def options_key(self) -> str:
        return self.key.replace("_host", "_conn_options")

    @property
    def path(self) -> tuple[str, ...]:
        if self.from_peer_name:
            return ("roundcube", "config", self.options_key, "ssl", "peer_name")
        return ("roundcube", "config", self.key)


@dataclass(frozen=True)
class ServedCertificate:
    """The certificate a daemon will serve: its file and the names PHP accepts."""

    path: str
    names: tuple[str, ...]  # `DNS:x` / `IP:y` entries, then the subject CN as `DNS:cn`


def _ssl_options(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    options = config.get(key.replace("_host", "_conn_options"))
    ssl = options.get("ssl") if isinstance(options, Mapping) else None
    return ssl if isinstance(ssl, Mapping) else {}


def _verifies(ssl: Mapping[str, Any]) -> bool:
    """PHP verifies the peer name unless verify_peer or verify_peer_name is false."""
    return ssl.get("verify_peer") is not False and ssl.get("verify_peer_name") is not False


def roundcube_peers(config: Mapping[str, Any]) -> list[Peer]:
    """Roundcube's TLS targets on this host (localhost, 127.0.0.1, ::1) that it verifies."""
    peers = []
    for key in SERVICE:
        ssl = _ssl_options(config, key)
        if not _verifies(ssl):
            continue  # `roundcube-tls-verify-off` says what that costs
        for url in _targets(config.get(key)):
            match = _URL.match(url.strip())
            if not match or match["scheme"] not in ("ssl", "tls"):
                continue
            host = match["host"].strip("[]")
            if host not in LOCAL:
                continue  # another server: its certificate is not ours to know
            peer_name = ssl.get("peer_name")
            named = peer_name.strip() if isinstance(peer_name, str) else ""
            peers.append(Peer(key, url, host, named or host, bool(named)))
    return peers


def public_name(name: str) -> bool:
    """A name a public CA can certify: a dotted DNS name, not localhost, not an address."""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return False
    except ValueError:
        pass
    lowered = name.lower().rstrip(".")
    return "." in lowered and lowered != "localhost" and not lowered.endswith(".localhost")


def _is_unset(view: StateView, name: str) -> bool:
    """A variable left at the profile's placeholder (references to others followed)."""
    value = resolve_variables(view.resolved.variables).get(name)
    return isinstance(value, str) and value.strip().lower() == UNSET_HOSTNAME


def _mail_hostname_unset(view: StateView) -> bool:
    return _is_unset(view, MAIL_HOSTNAME)


@rule("mail-hostname-unset", "warning", "mail_hostname not set for the host",
      PEER_REFERENCE)
def mail_hostname_unset(view: StateView) -> Iterator[Finding]:
    if not _mail_hostname_unset(view) or view.state.roundcube is None:
        return
    peers = [p for p in roundcube_peers(view.state.roundcube.config)
             if p.name.lower() == UNSET_HOSTNAME]
    also = (f", and gives new users addresses @{UNSET_HOSTNAME} (mail_domain follows it)"
            if _is_unset(view, "mail_domain") else "")
    if peers:
        yield Finding(
            f"{MAIL_HOSTNAME} is not set for this host (the profile's default, "
            f"{UNSET_HOSTNAME}): Roundcube verifies the IMAP and SMTP certificates against "
            f"{UNSET_HOSTNAME}, which no public CA certifies{also}", peers[0].path,
            fix=f"set {MAIL_HOSTNAME}: mail.example.com (the name on the host's "
                "certificate) and mail_domain as inventory host or group variables")


@rule("roundcube-peer-name", "warning", "Roundcube verifies a name no public CA certifies",
      PEER_REFERENCE)
def peer_name(view: StateView) -> Iterator[Finding]:
    if view.state.roundcube is None:
        return
    unset = _mail_hostname_unset(view)
    for peer in roundcube_peers(view.state.roundcube.config):
        if public_name(peer.name) or (unset and peer.name.lower() == UNSET_HOSTNAME):
            continue  # a DNS name (the certificate is checked at plan time), or the above
        how = "its peer_name" if peer.from_peer_name else f"{peer.key} (no peer_name)"
        yield Finding(
            f"Roundcube verifies the certificate of {peer.url} against {peer.name} "
            f"({how}): public CAs never certify localhost or an address, so with such a "
            f"certificate {WHAT_FAILS[peer.key]}", peer.path,
            fix=f"keep {peer.key} on the local listener and set {peer.options_key}: "
                "{ssl: {peer_name: mail.example.com}} (the name on the certificate; the "
                "hardened profile takes it from mail_hostname)")


# -- plan time: the certificate is known ---------------------------------------------


@lru_cache(maxsize=256)
def certificate_names(data: bytes) -> tuple[str, ...] | None:
    """The names PHP accepts for the first certificate in a PEM file (None: unreadable).

    Only the first CERTIFICATE block is looked at (the server's own, first in a chain
    file); anything else in the file, such as a private key, is never parsed. Kept per
    block: a host's Dovecot and Postfix mostly serve the same certificate, and a plan
    asks for each (a certificate is public; the data is only the block facts sent)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    match = PEM_CERT.search(data)
    if match is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(match.group(0))
        names: list[str] = []
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names += [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
            names += [f"IP:{a}" for a in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            pass
        names += [f"DNS:{a.value}" for a in cert.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME) if isinstance(a.value, str)]
    except ValueError:
        return None
    return tuple(dict.fromkeys(names))


def certificate_problems(config: Mapping[str, Any],
                         served: Mapping[str, ServedCertificate | None],
                         host: str = "") -> list[Diagnostic]:
    """`roundcube-peer-name` errors for the targets whose served certificate is known
    (`served`: "imap" -> Dovecot's, "smtp" -> Postfix's, None when not known)."""
    problems = []
    for peer in roundcube_peers(config):
        cert = served.get(SERVICE[peer.key])
        if cert is None or name_matches(peer.name, cert.names):
            continue
        who = f"{host}: " if host else ""
        how = f"its {peer.options_key} peer_name" if peer.from_peer_name else \
            f"{peer.key} (no peer_name)"
        listed = ", ".join(n.partition(":")[2] for n in cert.names) or "no name"
        problems.append(Diagnostic(
            "error", f"{who}Roundcube verifies the certificate of {peer.key} {peer.url} against "
            f"{peer.name} ({how}), but {cert.path}, which {SERVICE[peer.key].upper()} "
            f"serves there, names {listed}: {WHAT_FAILS[peer.key]}",
            Location(cert.path), code="roundcube-peer-name", reference=PEER_REFERENCE,
            fix=f"set {MAIL_HOSTNAME} (the hardened profile) or {peer.options_key} "
                f"peer_name to a name on the certificate"
                + (f", e.g. {cert.names[0].partition(':')[2]}" if cert.names else "")))
    return problems
