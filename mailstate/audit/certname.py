"""Does a certificate name the host a client expects? (RFC 6125 6.4, RFC 9525)

The audit connects to an inventory address, often an IP, but mail clients connect to
the mail server's DNS name and check the certificate against that. So the name is
checked against the EXPECTED name (`mail_hostname`, else the inventory host name), not
the connect address, and separately from the chain (OpenSSL checks the chain against
`--cafile`). Rules: only subjectAltName entries count (no CN fallback, as in browsers,
Python's ssl and RFC 9525); DNS names compare case-insensitively without a trailing
dot; a wildcard is only a whole left-most label (`*.example.com` matches
`mx.example.com`, not `example.com` nor `a.mx.example.com`); an IP address matches only
an IP entry.
"""

from __future__ import annotations

import ipaddress


def _dns(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _dns_matches(expected: str, pattern: str) -> bool:
    pattern = _dns(pattern)
    if pattern == expected:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    head, _, rest = expected.partition(".")
    return bool(head) and rest == pattern[2:] and "." in rest


def name_matches(expected: str, san: tuple[str, ...]) -> bool:
    """True when `san` (`DNS:x` / `IP:y` entries, as in CertInfo) covers `expected`."""
    wanted_ip = _ip(expected)
    for entry in san:
        kind, _, value = entry.partition(":")
        if wanted_ip is not None:
            if kind == "IP" and _ip(value) == wanted_ip:
                return True
        elif kind == "DNS" and _dns_matches(_dns(expected), value):
            return True
    return False
