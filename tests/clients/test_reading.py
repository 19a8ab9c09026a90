"""Reading mail on the hardened hosts: IMAPS as Roundcube reaches it (on the host's own
127.0.0.1:993, the only address it listens on), POP3S from the network (995). Both
verify the certificate against the lab CA and the host's DNS name: IMAPS with the host's
own trust store, POP3S with the lab CA from the machine.
"""

from __future__ import annotations

import poplib
import smtplib
import uuid

import pytest

from tests.clients.conftest import HOSTS, Fleet, delivered, run_in_host
from tests.tlsnames import named_context


def deliver(fleet: Fleet, name: str, subject: str) -> None:
    """A message for the mail user, through authenticated submission (465)."""
    lab = fleet.lab
    host, user = lab.host(name), lab.mail_user
    with smtplib.SMTP_SSL(host.address, 465, timeout=15,
                          context=named_context(lab.ca_path, host.fqdn)) as smtp:
        smtp.login(user.name, user.password)
        smtp.sendmail(user.address(host), [user.address(host)],
                      f"Subject: {subject}\r\n\r\nread me\r\n")
    delivered(lab, name, user.name, subject)


@pytest.mark.parametrize("name", HOSTS)
def test_imaps_on_the_hosts_loopback_reads_the_message(clients_fleet: Fleet,
                                                       name: str) -> None:
    lab = clients_fleet.lab
    host, user = lab.host(name), lab.mail_user
    subject = f"imaps {uuid.uuid4().hex[:10]}"
    deliver(clients_fleet, name, subject)
    result = run_in_host(lab, name, client="imaps", name=host.fqdn, user=user.name,
                         password=user.password, subject=subject)
    assert result["peer_san"] == [host.fqdn]  # verified by name; nothing else on it
    assert result["found"] == 1 and "read me" in result["message"]


@pytest.mark.parametrize("name", HOSTS)
def test_pop3s_reads_the_message(clients_fleet: Fleet, name: str) -> None:
    lab = clients_fleet.lab
    host, user = lab.host(name), lab.mail_user
    subject = f"pop3s {uuid.uuid4().hex[:10]}"
    deliver(clients_fleet, name, subject)
    pop = poplib.POP3_SSL(host.address, 995, context=named_context(lab.ca_path, host.fqdn),
                          timeout=15)
    try:
        pop.user(user.name)
        pop.pass_(user.password)
        count, _ = pop.stat()
        texts = [b"\n".join(pop.retr(i)[1]) for i in range(1, count + 1)]
        assert sum(f"Subject: {subject}".encode() in t for t in texts) == 1
    finally:
        pop.quit()
