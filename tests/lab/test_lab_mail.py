"""Every stock lab host is a working mail server for its user, on Debian 12 and 13 alike.

Real clients from the machine, as a user's would connect: Roundcube's login page over
HTTP, a message delivered on port 25 and read back with imaplib and poplib as the lab's
mail user. Mail lands in that host's own mailbox, never in the machine's.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import smtplib
import ssl
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.tlsnames import named_context

HOSTS = ["h1", "h2"]  # mixed_lab: Debian 12, Debian 13


def deliver(lab: Lab, name: str) -> str:
    """Send one message to the mail user of `name` on port 25; return its subject."""
    host = lab.host(name)
    subject = f"lab test {uuid.uuid4().hex[:12]}"
    message = (f"From: bob@example.org\r\nTo: {lab.mail_user.address(host)}\r\n"
               f"Subject: {subject}\r\n\r\nhello from the machine\r\n")
    with smtplib.SMTP(host.address, 25, timeout=10) as smtp:
        refused = smtp.sendmail("bob@example.org", [lab.mail_user.address(host)], message)
    assert refused == {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if subject in lab.run(name, f"cat /var/mail/{lab.mail_user.name} 2>/dev/null").stdout:
            return subject
        time.sleep(0.1)
    raise AssertionError(f"{subject!r} never reached {name}'s mailbox")


def tls_context(lab: Lab, name: str) -> ssl.SSLContext:
    """The lab CA, and the host's DNS name (its certificate names nothing else)."""
    return named_context(lab.ca_path, lab.host(name).fqdn)


@pytest.mark.parametrize("name", HOSTS)
def test_roundcube_login_page_is_served(mixed_lab: Lab, name: str) -> None:
    with urllib.request.urlopen(mixed_lab.webmail_url(name), timeout=15) as response:
        assert response.status == 200
        page = response.read().decode()
    assert "<title>Roundcube Webmail :: Welcome to Roundcube Webmail</title>" in page
    assert re.search(r'name="_user"', page) and re.search(r'name="_pass"', page)
    assert re.search(r'name="_token" value="\w+"', page)  # a session in its own database
    sessions = mixed_lab.run(name, "php -r '$db = new PDO(\"sqlite:/var/lib/dbconfig-common/"
                                   "sqlite3/roundcube/roundcube\"); echo $db->query(\"select"
                                   " count(*) from session\")->fetchColumn();'").stdout
    assert int(sessions) >= 1


@pytest.mark.parametrize("name", HOSTS)
def test_mail_user_reads_a_message_delivered_on_port_25_over_imap(mixed_lab: Lab,
                                                                  name: str) -> None:
    subject = deliver(mixed_lab, name)
    user = mixed_lab.mail_user
    with imaplib.IMAP4_SSL(mixed_lab.host(name).address, 993,
                           ssl_context=tls_context(mixed_lab, name), timeout=10) as imap:
        imap.login(user.name, user.password)
        status, data = imap.select("INBOX", readonly=True)
        assert status == "OK" and int(data[0] or 0) >= 1
        _, found = imap.search(None, "SUBJECT", f'"{subject}"')
        [number] = found[0].split()
        _, fetched = imap.fetch(number, "(BODY.PEEK[TEXT])")
        assert b"hello from the machine" in fetched[0][1]  # type: ignore[index]
    # that host's mailbox, not the machine's nor the other host's
    assert not Path(f"/var/mail/{user.name}").exists()
    other = next(h for h in HOSTS if h != name)
    assert subject not in mixed_lab.run(other, f"cat /var/mail/{user.name} 2>/dev/null").stdout


@pytest.mark.parametrize("name", HOSTS)
def test_mail_user_reads_it_over_pop3(mixed_lab: Lab, name: str) -> None:
    subject = deliver(mixed_lab, name)
    user = mixed_lab.mail_user
    pop = poplib.POP3_SSL(mixed_lab.host(name).address, 995,
                          context=tls_context(mixed_lab, name), timeout=10)
    try:
        pop.user(user.name)
        pop.pass_(user.password)
        count, _ = pop.stat()
        assert count >= 1
        _, lines, _ = pop.retr(count)
        assert f"Subject: {subject}".encode() in lines
    finally:
        pop.quit()


def test_dovecot_auth_that_postfix_sasl_uses_knows_the_mail_user(mixed_lab: Lab) -> None:
    """Postfix SASL (the hardened profile) asks Dovecot's auth service: same passdb, PAM
    against the host's own shadow file. (No wrong-password case here: PAM and Dovecot
    delay each failure by about 3.5 s; IMAP and POP3 above log in for real.)"""
    user = mixed_lab.mail_user
    for name in HOSTS:
        good = mixed_lab.run(name, f"doveadm auth test {user.name} '{user.password}'")
        assert good.returncode == 0 and "auth succeeded" in good.stdout, good.stderr
        shadow = mixed_lab.run(name, f"grep '^{user.name}:' /etc/shadow").stdout
        assert shadow.split(":")[1].startswith("$6$")


def test_reset_empties_the_mailbox_and_the_users_home(mixed_lab: Lab) -> None:
    deliver(mixed_lab, "h2")
    user = mixed_lab.mail_user
    with imaplib.IMAP4_SSL(mixed_lab.host("h2").address, 993,
                           ssl_context=tls_context(mixed_lab, "h2"), timeout=10) as imap:
        imap.login(user.name, user.password)  # Dovecot writes its index under ~/mail
        imap.select("INBOX")
    assert mixed_lab.run("h2", f"ls -A /home/{user.name}").stdout.strip()
    mixed_lab.reset(["h2"])
    assert mixed_lab.run("h2", f"ls -A /var/mail; ls -A /home/{user.name}").stdout == ""
