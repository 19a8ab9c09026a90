"""Cross-service lint rules: what one daemon's settings require of another's.

SMTP AUTH in Postfix needs Dovecot's auth socket where chrooted smtpd finds it;
Roundcube must point at listeners the state keeps open; certificate paths must exist.
No single daemon's own check sees these, and each breaks mail silently (MAIL-FACTS #10).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailstate.lint.registry import Finding, rule
from mailstate.lint.view import Listener, Service, StateView

QUEUE_DIR = "/var/spool/postfix/"
SASL_README = "SASL_README https://www.postfix.org/SASL_README.html#server_dovecot; MAIL-FACTS #10"
_URL = re.compile(r"^(?:(?P<scheme>ssl|tls)://)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?$")
LOCAL = {"127.0.0.1", "localhost", "::1"}


def _auth_listener(view: StateView, path: str) -> dict[str, object] | None:
    listener = view.dovecot("service auth", f"unix_listener {path}")
    return listener if isinstance(listener, dict) else None


def _sasl_problem(view: StateView, service: Service) -> tuple[str, tuple[str, ...], str] | None:
    kind = view.option(service, "smtpd_sasl_type")
    if kind != "dovecot":
        return (f"smtpd_sasl_type is {kind or 'unset'}: no Dovecot backend, AUTH is never "
                "offered",
                view.option_path(service, "smtpd_sasl_type"),
                "smtpd_sasl_type: dovecot and smtpd_sasl_path: private/auth in main")
    path = view.option(service, "smtpd_sasl_path")
    if path.startswith("inet:"):
        return None
    full = path if path.startswith("/") else QUEUE_DIR + path
    if not full.startswith(QUEUE_DIR):
        return (f"smtpd_sasl_path {path} is outside {QUEUE_DIR}: chrooted smtpd cannot "
                "reach it", view.option_path(service, "smtpd_sasl_path"),
                "smtpd_sasl_path: private/auth")
    listener = _auth_listener(view, full)
    if listener is None:
        return (f"smtpd_sasl_path {path} needs a Dovecot 'service auth' unix_listener {full}, "
                "which the state does not configure (commented out in Debian's "
                "10-master.conf)", view.option_path(service, "smtpd_sasl_path"),
                f"dovecot settings: service auth: unix_listener {full}: "
                "{mode: '0660', user: postfix, group: postfix}")
    if listener.get("user") != "postfix" and listener.get("mode") != "0666":
        return (f"Dovecot unix_listener {full} is not owned by postfix: smtpd cannot connect",
                ("dovecot", "settings", "service auth", f"unix_listener {full}"),
                "user: postfix, group: postfix, mode: '0660'")
    return None


@rule("sasl-backend", "error", "SMTP AUTH without a working SASL backend", SASL_README)
def sasl_backend(view: StateView) -> Iterator[Finding]:
    for service in view.smtpd_services():
        if not view.enabled(service, "smtpd_sasl_auth_enable"):
            continue
        problem = _sasl_problem(view, service)
        if problem:
            message, path, fix = problem
            yield Finding(f"{service.key} enables SMTP AUTH, but {message}", path, fix=fix)


def _targets(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        return [str(k) for k in value]
    return []


def _covers(addresses: tuple[str, ...], host: str) -> bool:
    wanted = {"127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
    if host == "::1":
        wanted = {"::1", "::"}
    return bool({"*", *wanted} & set(addresses)) or ("::" in addresses and host == "::1")


def _imap_problem(view: StateView, url: str) -> str | None:
    match = _URL.match(url.strip())
    if not match:
        return f"cannot read {url!r} as [ssl|tls://]host[:port]"
    scheme, host = match["scheme"], match["host"].strip("[]")
    port = int(match["port"] or (993 if scheme == "ssl" else 143))
    if host not in LOCAL:
        return None  # another host: not ours to check
    found: list[Listener] = [x for x in view.listeners() if x.port == port]
    if not found:
        return f"no Dovecot listener on port {port} (the state closes it or never opens it)"
    if not any(_covers(x.addresses, host) for x in found):
        return (f"the Dovecot listener on port {port} binds {', '.join(found[0].addresses)}, "
                f"not {host}")
    if scheme == "ssl" and not any(x.ssl for x in found):
        return f"ssl:// needs implicit TLS, but the listener on port {port} is plain"
    return None


@rule("roundcube-imap-listener", "error", "Roundcube IMAP target not served",
      "Roundcube 1.6 config/defaults.inc.php imap_host; MAIL-FACTS #10")
def roundcube_imap(view: StateView) -> Iterator[Finding]:
    config = view.state.roundcube.config if view.state.roundcube else {}
    for url in _targets(config.get("imap_host")):
        problem = _imap_problem(view, url)
        if problem:
            yield Finding(f"imap_host {url}: {problem}; webmail logins fail",
                          ("roundcube", "config", "imap_host"),
                          fix="e.g. imap_host: ssl://127.0.0.1:993 with the imaps listener "
                              "on 127.0.0.1 or *")


def _smtp_problem(view: StateView, url: str) -> str | None:
    match = _URL.match(url.strip())
    if not match:
        return f"cannot read {url!r} as [ssl|tls://]host[:port]"
    scheme, host = match["scheme"], match["host"].strip("[]")
    port = int(match["port"] or (465 if scheme == "ssl" else 587))
    if host not in LOCAL:
        return None
    services = [s for s in view.smtpd_services() if s.port == port
                and (s.host is None or s.host in LOCAL)]
    if not services:
        return f"no Postfix smtpd service on port {port} in the state"
    service = services[0]
    wrapper = view.enabled(service, "smtpd_tls_wrappermode")
    if scheme == "ssl" and not wrapper:
        return f"ssl:// is implicit TLS but {service.key} speaks STARTTLS (use tls://)"
    if scheme != "ssl" and wrapper:
        return f"{service.key} is implicit TLS (smtpd_tls_wrappermode): use ssl://"
    if scheme is None and view.option(service, "smtpd_tls_security_level") == "encrypt":
        return f"{service.key} requires STARTTLS, which Roundcube only does with tls://"
    return None


@rule("roundcube-smtp-listener", "error", "Roundcube SMTP target not served",
      "Roundcube 1.6 config/defaults.inc.php smtp_host; RFC 8314")
def roundcube_smtp(view: StateView) -> Iterator[Finding]:
    config = view.state.roundcube.config if view.state.roundcube else {}
    for url in _targets(config.get("smtp_host")):
        problem = _smtp_problem(view, url)
        if problem:
            yield Finding(f"smtp_host {url}: {problem}; webmail cannot send",
                          ("roundcube", "config", "smtp_host"),
                          fix="e.g. smtp_host: tls://127.0.0.1:587 with submission/inet")


CERT_PAIRS = (("smtpd_tls_cert_file", "smtpd_tls_key_file"),
              ("smtp_tls_cert_file", "smtp_tls_key_file"))


@rule("tls-cert-files", "error", "TLS certificate and key paths", "TLS_README; " +
      "Dovecot 2.3 ssl_cert/ssl_key, 2.4 ssl_server_cert_file/ssl_server_key_file")
def cert_files(view: StateView) -> Iterator[Finding]:
    for cert, key in CERT_PAIRS:
        has_cert, has_key = cert in view.main_values, key in view.main_values
        if has_cert != has_key:
            missing, given = (key, cert) if has_cert else (cert, key)
            yield Finding(f"{given} is set but {missing} is not: the pair must match",
                          view.main_path(given), severity="warning",
                          fix=f"set {missing} to the matching file")
    if view.existing_paths is None:
        return
    paths = [(view.main_path(n), v) for n, v in view.main_values.items()
             if n.endswith(("_cert_file", "_key_file", "_CAfile")) and v]
    for name in ("ssl_cert", "ssl_key", "ssl_ca", "ssl_server_cert_file",
                 "ssl_server_key_file", "ssl_server_ca_file"):  # 2.3 and 2.4 spellings
        value = view.dovecot_text(name)
        if value:
            paths.append((("dovecot", "settings", name), value.lstrip("<")))
    for path, file in paths:
        if file not in view.existing_paths:
            yield Finding(f"{file} does not exist on the host: the service fails to start "
                          "TLS", path, fix="install the certificate first or fix the path")
