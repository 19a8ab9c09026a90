"""Mail clients that run INSIDE a lab host, with that host's own python3 (3.11 on Debian
12, 3.13 on Debian 13) and its own system trust store.

Sent as a script on stdin by `run_in_host`; the parameters are appended as a Python
literal and the result comes back as one JSON line. Standard library only. Why inside:
port 25 must be tested from ANOTHER mail server (not from the machine, which is not
in any host's mynetworks either, but is not a mail server), and IMAPS listens on the
host's 127.0.0.1 only, for Roundcube. Certificates are verified with the host's trust
store (where the lab CA is, as a site's own CA would be) against the host's DNS name,
whatever address was dialled.
"""

# This file is read as text and executed by the host's python3: keep it self-contained.
import imaplib
import json
import smtplib
import socket
import ssl
from typing import Any


class NamedContext(ssl.SSLContext):
    """Verifies the server against `server_name`, whatever address was dialled."""

    server_name = ""

    def wrap_socket(self, sock: socket.socket, *args: Any, server_hostname: str | None = None,
                    **kwargs: Any) -> ssl.SSLSocket:
        return super().wrap_socket(sock, *args, server_hostname=self.server_name, **kwargs)


def system_context(name: str) -> NamedContext:
    context = NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_default_certs()  # the host's /etc/ssl/certs: the lab CA is in it
    context.server_name = name
    return context


def smtp25(p: dict[str, str]) -> dict[str, Any]:
    """A mail server delivering to `p['address']`:25 (STARTTLS, verified by name), then
    asking it to relay elsewhere."""
    out: dict[str, Any] = {}
    with smtplib.SMTP(p["address"], 25, local_hostname=p["helo"], timeout=20) as smtp:
        smtp.ehlo()
        out["starttls"] = smtp.has_extn("starttls")
        out["auth_before_tls"] = smtp.has_extn("auth")
        out["tls"] = smtp.starttls(context=system_context(p["name"]))[0]
        out["cipher"] = smtp.sock.cipher()[0]
        smtp.ehlo()
        out["auth_after_tls"] = smtp.has_extn("auth")  # port 25 offers no AUTH at all
        out["mail"] = smtp.mail(p["sender"])[0]
        out["rcpt"] = smtp.rcpt(p["recipient"])[0]
        message = ("From: " + p["sender"] + "\r\nTo: " + p["recipient"] + "\r\nSubject: "
                   + p["subject"] + "\r\n\r\ninbound on port 25\r\n")
        out["data"] = smtp.data(message.encode())[0]
        smtp.rset()
        smtp.mail(p["sender"])
        code, text = smtp.rcpt(p["relay_to"])
        out["relay"] = [code, text.decode()]
    return out


def imaps(p: dict[str, str]) -> dict[str, Any]:
    """Roundcube's path: IMAPS on the host's own 127.0.0.1:993, verified by name."""
    out: dict[str, Any] = {}
    with imaplib.IMAP4_SSL("127.0.0.1", 993, ssl_context=system_context(p["name"]),
                           timeout=20) as imap:
        sock = imap.sock
        assert isinstance(sock, ssl.SSLSocket)
        out["peer_san"] = [value for _, value in sock.getpeercert().get("subjectAltName", ())]
        imap.login(p["user"], p["password"])
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "SUBJECT", '"' + p["subject"] + '"')
        numbers = found[0].split()
        out["found"] = len(numbers)
        if numbers:
            _, data = imap.fetch(numbers[-1], "(BODY.PEEK[])")
            part = data[0]
            assert isinstance(part, tuple)
            out["message"] = part[1].decode("utf-8", "replace")
    return out


def main(p: dict[str, str]) -> None:
    clients = {"smtp25": smtp25, "imaps": imaps}
    try:
        result = clients[p["client"]](p)
    except Exception as exc:  # reported to the test, which fails with it
        result = {"error": type(exc).__name__ + ": " + str(exc)}
    print(json.dumps(result))
