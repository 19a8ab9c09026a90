"""Checks for master.cf service keys (`name/type`), the part `postconf -M` does not check.

`postconf -M` accepts `127.0.0.1:nosuchport inet ...` and the Postfix master then dies
on reload (MAIL-FACTS, Postfix). So an inet service name must be a numeric port 1-65535,
`host:port`, or a service name known from /etc/services.
"""

from __future__ import annotations

import re

from mailstate.model.values import fail, is_address

SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")

# The /etc/services names a mail host's master.cf may reasonably use (Debian netbase).
KNOWN_PORTS: dict[str, int] = {
    "smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "urd": 465,
    "lmtp": 24, "qmtp": 209, "qmqp": 628, "domain": 53, "http": 80, "https": 443,
    "imap": 143, "imap2": 143, "imaps": 993, "pop3": 110, "pop3s": 995, "sieve": 4190,
    "ssmtp": 465, "postgresql": 5432, "mysql": 3306, "ldap": 389, "ldaps": 636,
}

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def inet_port(name: str) -> int | None:
    """The TCP port of an inet service name (`smtp`, `2525`, `127.0.0.1:submission`)."""
    port = name.rsplit(":", 1)[-1] if ":" in name and not name.endswith("]") else name
    if port.isdigit():
        number = int(port)
        return number if 1 <= number <= 65535 else None
    return KNOWN_PORTS.get(port)


def inet_host(name: str) -> str | None:
    """The host part of `host:port`, or None (all addresses)."""
    if ":" not in name or name.endswith("]"):
        return None
    host = name.rsplit(":", 1)[0]
    return host.strip("[]")


def check_service_key(key: str) -> str:
    """Validate a `name/type` key; returns it unchanged."""
    name, sep, kind = key.rpartition("/")
    if not sep or not name:
        fail("a master.cf service key 'name/type' such as 'submission/inet'")
    if kind not in SERVICE_TYPES:
        fail("a service type among " + ", ".join(SERVICE_TYPES) + f" after '/', not {kind!r}")
    if kind != "inet":
        if not _NAME.fullmatch(name):
            fail("a service name of letters, digits, '.', '_' or '-'")
        return key
    host = inet_host(name)
    if host is not None and not (host == "*" or is_address(host)):
        fail("an inet service 'host:port' with a valid host")
    if inet_port(name) is None:
        fail("an inet service name: a port 1-65535, 'host:port', or a known service name "
             "(" + ", ".join(sorted(k for k in KNOWN_PORTS if KNOWN_PORTS[k] in
                                    (25, 465, 587, 24))) + ", ...)")
    return key
