"""Lint rules about Dovecot and Roundcube alone (MAIL-FACTS 5-7) and about the YAML itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mailstate.lint.registry import Finding, rule
from mailstate.lint.view import StateView
from mailstate.model.paths import dotted

DOVECOT_SSL = "Dovecot 2.3 https://doc.dovecot.org/2.3/configuration_manual/dovecot_ssl_configuration/"
RC_DEFAULTS = "Roundcube 1.6 config/defaults.inc.php"
RENAMED = {
    "default_host": "imap_host (with the port in the URL: 'ssl://127.0.0.1:993')",
    "default_port": "imap_host ('ssl://127.0.0.1:993': the port is part of the URL)",
    "smtp_server": "smtp_host ('tls://127.0.0.1:587' STARTTLS or 'ssl://...:465')",
    "smtp_port": "smtp_host (the port is part of the URL)",
}
VERIFY_OFF = {"verify_peer": False, "verify_peer_name": False, "allow_self_signed": True}


@rule("dovecot-obsolete-protocols", "error", "obsolete protocol names",
      "Dovecot 2.3 protocols setting; Dovecot 2.4 upgrade notes; MAIL-FACTS #5")
def obsolete_protocols(view: StateView) -> Iterator[Finding]:
    value = view.dovecot_text("protocols") or ""
    old = [w for w in value.split() if w in ("imaps", "pop3s")]
    if old:
        yield Finding(f"protocols lists {' '.join(old)}: obsolete names (2.3 converts them "
                      "with a warning, 2.4 refuses to start)", ("dovecot", "settings",
                                                                 "protocols"),
                      fix="protocols are imap/pop3/lmtp; TLS is per listener "
                          "(inet_listener imaps/pop3s). On Debian leave protocols to "
                          "/usr/share/dovecot/protocols.d")


@rule("dovecot-bare-protocols", "warning", "protocols set without $protocols",
      "Debian dovecot-core /usr/share/dovecot/protocols.d; MAIL-FACTS #5")
def bare_protocols(view: StateView) -> Iterator[Finding]:
    value = view.dovecot_text("protocols")
    if value is not None and "$protocols" not in value.split():
        yield Finding(f"protocols = {value} replaces what Debian's protocols.d enabled: "
                      "lmtp (or another installed protocol) silently stops",
                      ("dovecot", "settings", "protocols"),
                      fix="remove it (the packages enable their protocols); on Dovecot "
                          "2.4 add one with protocols: {NAME: yes}")


@rule("dovecot-plaintext-open", "error", "plain listeners open with cleartext auth allowed",
      "Dovecot 2.3 disable_plaintext_auth; RFC 8314 section 4")
def plaintext_open(view: StateView) -> Iterator[Finding]:
    disable = view.dovecot_text("disable_plaintext_auth")
    allow = view.dovecot_text("auth_allow_cleartext")
    if disable != "no" and allow != "yes":
        return
    name = "disable_plaintext_auth" if disable == "no" else "auth_allow_cleartext"
    for listener in view.listeners():
        if not listener.ssl:
            yield Finding(f"{listener.section[1]} listens on port {listener.port} without "
                          f"TLS while {name} allows passwords in cleartext",
                          ("dovecot", "settings", name),
                          fix=f"port 0 for {listener.section[1]} (see hardened.yaml), and "
                              f"leave {name} at its default")


@rule("dovecot-ssl-cert", "error", "Dovecot certificate settings",
      DOVECOT_SSL)
def dovecot_cert(view: StateView) -> Iterator[Finding]:
    for name in ("ssl_cert", "ssl_key", "ssl_ca"):
        value = view.dovecot_text(name)
        if value and not value.startswith("<"):
            yield Finding(f"{name} = {value}: without '<' Dovecot takes the path itself as "
                          "PEM data and fails to start", ("dovecot", "settings", name),
                          fix=f"{name}: '<{value}'")
    if view.dovecot_text("ssl") == "no" and any(x.ssl for x in view.listeners()):
        yield Finding("ssl = no while imaps/pop3s listeners are open: they cannot do TLS",
                      ("dovecot", "settings", "ssl"), fix="ssl: required (or yes)")


def _walk(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))
    else:
        yield path, value


@rule("roundcube-renamed-key", "error", "pre-1.6 Roundcube key",
      f"{RC_DEFAULTS}; Roundcube 1.6 release notes; MAIL-FACTS #6")
def renamed_key(view: StateView) -> Iterator[Finding]:
    config = view.state.roundcube.config if view.state.roundcube else {}
    for key, new in RENAMED.items():
        if config.get(key) is not None:
            yield Finding(f"{key} was renamed in Roundcube 1.6; the old name is ignored or "
                          "only partly honoured", ("roundcube", "config", key),
                          fix=f"use {new}; set {key}: null to remove the old key")


@rule("roundcube-tls-verify-off", "warning", "certificate verification disabled",
      "PHP SSL context options https://www.php.net/manual/en/context.ssl.php; MAIL-FACTS #7")
def verify_off(view: StateView) -> Iterator[Finding]:
    config = view.state.roundcube.config if view.state.roundcube else {}
    for key in ("imap_conn_options", "smtp_conn_options", "managesieve_conn_options"):
        for path, value in _walk(config.get(key) or {}, ()):
            name = path[-1] if path else ""
            if name in VERIFY_OFF and value == VERIFY_OFF[name]:
                yield Finding(f"{key} {dotted(path)} = {json.dumps(value)} turns off certificate "
                              "checking (anyone on the path can read the passwords)",
                              ("roundcube", "config", key, *path),
                              fix="issue the certificate for the name Roundcube connects to "
                                  "(e.g. SAN 127.0.0.1) or set 'peer_name'; remove this option")


@rule("yaml-duplicate-key", "error", "key written twice in a state file",
      "YAML 1.2 section 3.2.1.1 (mapping keys are unique)")
def duplicate_key(view: StateView) -> Iterator[Finding]:
    for dup in view.resolved.duplicates:
        if dup.path[:2] == ("postfix", "master") and len(dup.path) == 3:
            continue  # postfix-master-duplicate
        yield Finding(f"{dotted(dup.path)} is written twice (first at {dup.first}); the "
                      "last one wins", location=dup.second, fix="keep one")
