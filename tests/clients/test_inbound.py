"""Port 25 between the hardened hosts: one lab host's own python3 is the sending mail
server, the other the receiving one, both ways (Debian 12 -> 13 and 13 -> 12).

Inbound mail for the local user is accepted (STARTTLS offered and verified by name with
the sender's trust store, no AUTH on port 25) and lands in the mailbox; relaying to a
domain the host does not serve is refused.
"""

from __future__ import annotations

import uuid

import pytest

from tests.clients.conftest import Fleet, delivered, run_in_host


@pytest.mark.parametrize(("sender", "receiver"), [("h2", "h1"), ("h1", "h2")])
def test_another_mail_server_delivers_inbound_and_cannot_relay(
        clients_fleet: Fleet, sender: str, receiver: str) -> None:
    lab = clients_fleet.lab
    to, user = lab.host(receiver), lab.mail_user
    subject = f"inbound {sender}->{receiver} {uuid.uuid4().hex[:10]}"
    result = run_in_host(lab, sender, client="smtp25", address=to.address, name=to.fqdn,
                         helo=lab.host(sender).fqdn, sender=f"postmaster@{sender}.test",
                         recipient=user.address(to), subject=subject,
                         relay_to="someone@example.com")
    assert result["starttls"] and result["tls"] == 220
    assert not result["auth_before_tls"] and not result["auth_after_tls"]
    assert (result["mail"], result["rcpt"], result["data"]) == (250, 250, 250)
    code, text = result["relay"]
    assert code in (454, 554) and "Relay access denied" in text, result["relay"]
    arrived = delivered(lab, receiver, user.name, subject)
    assert arrived["From"] == f"postmaster@{sender}.test"
    # received from the other host over TLS, without authentication
    assert f"[{lab.host(sender).address}]" in arrived["Received"]
    assert "with ESMTPS " in arrived["Received"]
