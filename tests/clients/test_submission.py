"""Submission on hardened hosts of both releases, with real clients from the machine.

587: no AUTH before STARTTLS (and AUTH refused), STARTTLS with the certificate verified
against the lab CA and the host's DNS name, then AUTH PLAIN and AUTH LOGIN (older
clients) as the host's mail user, and the message lands in her mailbox. 465: the same
over implicit TLS. Mandatory TLS refuses anonymous ciphers, which port 25 (opportunistic)
still negotiates with the same client, so the refusal is the server's.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import uuid

import pytest

from tests.clients.conftest import HOSTS, Fleet, delivered
from tests.tlsnames import named_context


def message(sender: str, to: str, subject: str) -> str:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nhello over TLS\r\n"


@pytest.mark.parametrize("name", HOSTS)
def test_587_requires_starttls_before_auth_then_delivers(clients_fleet: Fleet,
                                                         name: str) -> None:
    lab = clients_fleet.lab
    host, user = lab.host(name), lab.mail_user
    sent = []
    for mechanism in ("PLAIN", "LOGIN"):
        subject = f"587 {mechanism} {uuid.uuid4().hex[:10]}"
        with smtplib.SMTP(host.address, 587, timeout=15) as smtp:
            smtp.ehlo("client.test")
            assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
            code, text = smtp.docmd("AUTH", "PLAIN")
            assert code == 530 and b"STARTTLS" in text, text  # refused, not only hidden
            assert smtp.starttls(context=named_context(lab.ca_path, host.fqdn))[0] == 220
            smtp.ehlo("client.test")
            assert smtp.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
            smtp.user, smtp.password = user.name, user.password
            code, _ = smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
            assert code == 235
            refused = smtp.sendmail(user.address(host), [user.address(host)],
                                    message(user.address(host), user.address(host), subject))
            assert refused == {}
        sent.append(subject)
    for subject in sent:
        arrived = delivered(lab, name, user.name, subject)
        assert "with ESMTPSA" in arrived["Received"]  # TLS and AUTH, as Postfix saw it


@pytest.mark.parametrize("name", HOSTS)
def test_465_implicit_tls_delivers(clients_fleet: Fleet, name: str) -> None:
    lab = clients_fleet.lab
    host, user = lab.host(name), lab.mail_user
    subject = f"465 {uuid.uuid4().hex[:10]}"
    context = named_context(lab.ca_path, host.fqdn)
    with smtplib.SMTP_SSL(host.address, 465, context=context, timeout=15) as smtp:
        smtp.ehlo("client.test")
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        assert smtp.login(user.name, user.password)[0] == 235
        assert smtp.sendmail(user.address(host), [user.address(host)],
                             message(user.address(host), user.address(host), subject)) == {}
    assert "with ESMTPSA" in delivered(lab, name, user.name, subject)["Received"]
    # like a public CA's, the certificate names the host, never its address
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(host.address, 465, timeout=15,
                         context=ssl.create_default_context(cafile=str(lab.ca_path)))


def anonymous_context() -> ssl.SSLContext:
    """A client that offers only anonymous (aNULL) suites, TLS 1.2 (1.3 has none)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("aNULL:!eNULL:@SECLEVEL=0")
    return context


@pytest.mark.parametrize("name", HOSTS)
def test_mandatory_tls_refuses_anonymous_ciphers(clients_fleet: Fleet, name: str) -> None:
    address = clients_fleet.lab.host(name).address
    with smtplib.SMTP(address, 25, timeout=15) as smtp:  # opportunistic: any TLS beats none
        smtp.ehlo("client.test")
        smtp.starttls(context=anonymous_context())
        assert isinstance(smtp.sock, ssl.SSLSocket)
        assert smtp.sock.cipher()[0].startswith(("ADH-", "AECDH-"))  # OpenSSL's anon names
    with smtplib.SMTP(address, 587, timeout=15) as smtp, pytest.raises(ssl.SSLError):
        smtp.ehlo("client.test")
        smtp.starttls(context=anonymous_context())
    for port in (465, 995):  # Postfix (smtpd_tls_mandatory_exclude_ciphers), Dovecot
        with socket.create_connection((address, port), timeout=15) as raw, \
                pytest.raises(ssl.SSLError):
            anonymous_context().wrap_socket(raw)
