"""Tiny scripted SMTP/IMAP/POP3 servers on 127.0.0.1 for probe unit tests.

They speak just enough of each protocol for the probes (greeting, EHLO/CAPABILITY/CAPA,
STARTTLS/STLS, MAIL, LOGOUT/QUIT), with a throwaway CA and certificate made here, so the
probe code is exercised end to end without the lab. Real daemons are tested in
test_audit_lab.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_pki(directory: Path, days: int = 30,
             names: tuple[str, ...] = ("localhost", "127.0.0.1"),
             issued_days_ago: int = 1) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a CA and a leaf naming `names`, valid from
    `issued_days_ago` days back until `days` days from now (negative: expired)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("mail.test")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=issued_days_ago))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(_san(names), critical=False).sign(ca_key, hashes.SHA256()))
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Behaviour:
    """What the fake server offers."""

    protocol: str  # smtp / imap / pop3
    implicit: bool = False
    starttls: bool = True
    login_before_tls: bool = False  # AUTH in plaintext EHLO / no LOGINDISABLED / USER
    auth_after_tls: bool = True
    mail_requires_tls: bool = False


def server_context(cert: Path, key: Path, minimum: ssl.TLSVersion | None = None,
                   maximum: ssl.TLSVersion | None = None, ciphers: str | None = None,
                   curve: str | None = None) -> ssl.SSLContext:
    """A server context as Python's ssl makes it, with the TLS knobs the scan tests turn.

    `minimum=TLSv1` needs `ciphers` ending in @SECLEVEL=0 (OpenSSL 3); `curve` leaves
    one key exchange group, so a TLS 1.3 client offering x25519 gets a HelloRetryRequest.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if ciphers is not None:
        context.set_ciphers(ciphers)
    if minimum is not None:
        context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    if curve is not None:
        context.set_ecdh_curve(curve)
    return context


class FakeServer:
    """Listens on 127.0.0.1:<free port>, one thread per connection."""

    def __init__(self, behaviour: Behaviour, cert: Path, key: Path,
                 context: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.context = context or server_context(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.behaviour.implicit:
                conn = self.context.wrap_socket(conn, server_side=True)
            Session(self, conn).run()
        except (OSError, ValueError):
            pass
        finally:
            conn.close()


class Session:
    """One client connection; `tls` flips after STARTTLS."""

    def __init__(self, server: FakeServer, conn: socket.socket) -> None:
        self.server, self.conn = server, conn
        self.b = server.behaviour
        self.tls = self.b.implicit
        self.reader = conn.makefile("rb")

    def send(self, text: str) -> None:
        self.conn.sendall(text.replace("\n", "\r\n").encode())

    def upgrade(self) -> None:
        self.conn = self.server.context.wrap_socket(self.conn, server_side=True)
        self.reader = self.conn.makefile("rb")
        self.tls = True

    def login_offered(self) -> bool:
        return self.b.auth_after_tls if self.tls else self.b.login_before_tls

    def run(self) -> None:
        greeting = {"smtp": "220 fake ESMTP\n", "imap": "* OK fake IMAP ready\n",
                    "pop3": "+OK fake POP3 ready\n"}[self.b.protocol]
        self.send(greeting)
        while True:
            line = self.reader.readline().decode().strip()
            if not line or not getattr(self, self.b.protocol)(line):
                return

    def smtp(self, line: str) -> bool:
        verb = line.split()[0].upper()
        if verb == "EHLO":
            caps = ["fake", "PIPELINING"]
            caps += ["STARTTLS"] if self.b.starttls and not self.tls else []
            caps += ["AUTH PLAIN LOGIN"] if self.login_offered() else []
            caps += ["8BITMIME"]
            self.send("".join(f"250-{c}\n" for c in caps[:-1]) + f"250 {caps[-1]}\n")
        elif verb == "STARTTLS":
            self.send("220 2.0.0 Ready to start TLS\n")
            self.upgrade()
        elif verb == "MAIL":
            refused = self.b.mail_requires_tls and not self.tls
            self.send("530 5.7.0 Must issue a STARTTLS command first\n" if refused
                      else "250 2.1.0 Ok\n")
        elif verb == "QUIT":
            self.send("221 2.0.0 Bye\n")
            return False
        else:
            self.send("250 2.0.0 Ok\n")
        return True

    def imap(self, line: str) -> bool:
        tag, command = ([*line.split(" ", 2), ""])[:2]
        command = command.upper()
        if command == "CAPABILITY":
            caps = ["IMAP4rev1", "SASL-IR"]
            caps += ["STARTTLS"] if self.b.starttls and not self.tls else []
            caps += ["AUTH=PLAIN"] if self.login_offered() else ["LOGINDISABLED"]
            self.send(f"* CAPABILITY {' '.join(caps)}\n{tag} OK done\n")
        elif command == "STARTTLS":
            self.send(f"{tag} OK Begin TLS\n")
            self.upgrade()
        elif command == "LOGOUT":
            self.send(f"* BYE bye\n{tag} OK done\n")
            return False
        else:
            self.send(f"{tag} BAD unknown\n")
        return True

    def pop3(self, line: str) -> bool:
        verb = line.split()[0].upper()
        if verb == "CAPA":
            caps = ["TOP", "UIDL"]
            caps += ["STLS"] if self.b.starttls and not self.tls else []
            caps += ["USER", "SASL PLAIN"] if self.login_offered() else []
            self.send("+OK\n" + "".join(f"{c}\n" for c in caps) + ".\n")
        elif verb == "STLS":
            self.send("+OK Begin TLS\n")
            self.upgrade()
        elif verb == "QUIT":
            self.send("+OK bye\n")
            return False
        else:
            self.send("-ERR unknown\n")
        return True
