"""A site whose users' addresses are not the server's own name, on both releases.

The hosts are hN.test (mail_hostname, the name on their certificates) and the users'
domain is example.test (inventory host var `mail_domain`), applied with `mailstate
apply` on top of the hardened fleet. A user new to Roundcube gets the identity
alice@example.test, and a message she sends through Roundcube's HTTP interface leaves
with that sender: Postfix takes it on submission (authenticated, no sender
restriction) and delivers it to her mailbox at hN.test, the domain the lab's Postfix
receives for (mydestination). Afterwards the fleet's own inventory is applied again
and every file is as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.clients.conftest import (
    HOSTS,
    Fleet,
    delivered,
    forget_roundcube_user,
    roundcube_database_kept,
    roundcube_rows,
)
from tests.clients.roundcube import Session
from tests.engine.conftest import Run, host_digest, mailstate

USERS_DOMAIN = "example.test"
CONFIG = "/etc/roundcube/config.inc.php"


@pytest.fixture(scope="module")
def users_domain(clients_fleet: Fleet, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[Run]:
    """The fleet applied with `mail_domain: example.test` per host (the apply's run);
    the fleet's own inventory applied again afterwards, Roundcube's database restored."""
    lab = clients_fleet.lab
    document = yaml.safe_load(Path(clients_fleet.inventory).read_text())
    for name, host in document["all"]["hosts"].items():
        assert host["mail_hostname"] == f"{name}.test" != USERS_DOMAIN
        host["mail_domain"] = USERS_DOMAIN
    inventory = tmp_path_factory.mktemp("domain") / "inv.yaml"
    inventory.write_text(yaml.safe_dump(document))
    before = {name: host_digest(lab, name) for name in HOSTS}
    with roundcube_database_kept(lab):
        try:
            yield mailstate("apply", "-i", str(inventory), "--yes", "--json")
        finally:
            back = mailstate("apply", "-i", clients_fleet.inventory, "--yes", "--json")
    assert back.code == 0, back.stdout + back.stderr
    assert {name: host_digest(lab, name) for name in HOSTS} == before


@pytest.mark.parametrize("name", HOSTS)
def test_a_new_user_gets_her_address_at_mail_domain_not_the_host_name(
        clients_fleet: Fleet, users_domain: Run, name: str) -> None:
    assert users_domain.code == 0, users_domain.stdout + users_domain.stderr
    [report] = [h for h in users_domain.json()["hosts"] if h["host"] == name]
    assert report["written"] == [CONFIG]  # the users' domain is Roundcube's alone
    lab = clients_fleet.lab
    host, alice = lab.host(name), lab.mail_user
    assert lab.run(name, f"grep -c \"^\\$config\\['mail_domain'\\] = '{USERS_DOMAIN}';\" "
                         f"{CONFIG}").stdout.strip() == "1"
    forget_roundcube_user(lab, name, alice.name)  # her first login from here on
    session = Session(host.address)
    assert session.login(alice.name, alice.password).status == 302
    address = f"{alice.name}@{USERS_DOMAIN}"
    form = session.compose()
    [(identity, sender)] = form.identities.items()
    assert sender == f"{alice.name} <{address}>"
    subject = f"domain {uuid.uuid4().hex[:10]}"
    to = alice.address(host)  # her mailbox at hN.test, where this host receives
    sent = session.send(form, identity, to, subject, "from the users' domain")
    assert sent.status == 200 and "sent_successfully" in sent.body, sent.body[-800:]
    arrived = delivered(lab, name, alice.name, subject)
    assert arrived["From"] == f"{alice.name} <{address}>"
    assert arrived["Return-Path"] == f"<{address}>"  # the envelope sender Postfix took
    assert arrived["To"] == to
    assert "with ESMTPSA" in arrived["Received"]
    [row] = [r for r in roundcube_rows(lab, name, "identities")
             if r["email"].startswith(f"{alice.name}@")]
    assert row["email"] == address
