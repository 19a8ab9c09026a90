"""Debian's real Roundcube on hardened hosts of both releases, over HTTP as a browser.

- carol used the stock webmail before hardening (a login, a contact): afterwards she
  logs in to the SAME account (same user_id, no second row) and finds her contact.
- alice logs in for the first time after hardening: her identity is alice@hN.test
  (mail_domain), and a message she sends through Roundcube (submission over STARTTLS,
  authenticated) arrives with that sender.
- Certificate verification is really on: the same Roundcube told another peer name
  cannot log in, and mailstate refuses to plan such a name at all.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from tests.clients.conftest import CONTACT, HOSTS, Fleet, delivered, roundcube_rows
from tests.clients.roundcube import Session
from tests.engine.conftest import host_digest, mailstate

CONFIG = "/etc/roundcube/config.inc.php"
ERRORS_LOG = "/var/log/roundcube/errors.log"


@pytest.mark.parametrize("name", HOSTS)
def test_a_user_from_before_hardening_finds_the_same_account(clients_fleet: Fleet,
                                                             name: str) -> None:
    lab = clients_fleet.lab
    carol = lab.mail_users[1]
    [before] = [r for r in clients_fleet.users_before[name] if r["username"] == carol.name]
    assert before["mail_host"] == "localhost"  # what Debian's stock imap_host stored
    session = Session(lab.host(name).address)
    login = session.login(carol.name, carol.password)
    assert login.status == 302 and session.token, login.status
    after = [r for r in roundcube_rows(lab, name) if r["username"] == carol.name]
    assert after == [before]  # the same account: same user_id, no new empty one
    vcard = session.contacts_vcard()
    first, last, address = CONTACT
    assert f"FN:{first} {last}\r\n" in vcard and f"EMAIL;TYPE=home:{address}\r\n" in vcard


@pytest.mark.parametrize("name", HOSTS)
def test_a_new_user_sends_through_roundcube_with_her_own_address(clients_fleet: Fleet,
                                                                 name: str) -> None:
    lab = clients_fleet.lab
    host, alice = lab.host(name), lab.mail_user
    address = alice.address(host)  # alice@hN.test: the profile's mail_domain
    session = Session(host.address)
    assert session.login(alice.name, alice.password).status == 302
    form = session.compose()
    [(identity, sender)] = form.identities.items()
    assert sender == f"{alice.name} <{address}>"
    subject = f"roundcube {uuid.uuid4().hex[:10]}"
    sent = session.send(form, identity, address, subject, "sent through Roundcube")
    assert sent.status == 200 and "sent_successfully" in sent.body, sent.body[-800:]
    arrived = delivered(lab, name, alice.name, subject)
    assert arrived["From"] == f"{alice.name} <{address}>"
    assert arrived["Return-Path"] == f"<{address}>"  # the envelope sender Postfix took
    assert "with ESMTPSA" in arrived["Received"]  # submission: STARTTLS, then AUTH
    assert "sent through Roundcube" in arrived.get_payload()
    [row] = [r for r in roundcube_rows(lab, name, "identities")
             if r["email"].startswith(f"{alice.name}@")]
    assert row["email"] == address


def wrong_name_inventory(fleet: Fleet, directory: Path) -> str:
    """The fleet's inventory, each host named as its certificate does not name it."""
    document = yaml.safe_load(Path(fleet.inventory).read_text())
    for name, host in document["all"]["hosts"].items():
        host["mail_hostname"] = f"webmail.{name}.test"
    path = directory / "wrong.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_a_peer_name_the_certificate_does_not_carry_is_refused_at_plan_time(
        clients_fleet: Fleet, tmp_path: Path) -> None:
    lab = clients_fleet.lab
    inventory = wrong_name_inventory(clients_fleet, tmp_path)
    before = {name: host_digest(lab, name) for name in HOSTS}
    plan = mailstate("plan", "-i", inventory, "--json")
    assert plan.code == 1, plan.stdout + plan.stderr
    for host in plan.json()["hosts"]:
        name = host["host"]
        errors = {e["code"]: e for e in host["errors"]}
        assert set(errors) == {"roundcube-peer-name"}, host["errors"]
        found = [e for e in host["errors"] if e["code"] == "roundcube-peer-name"]
        # IMAP (Dovecot's certificate, 2.3 ssl_cert or 2.4 ssl_server_cert_file) and SMTP
        assert {e["location"]["file"] for e in found} == {
            "/etc/dovecot/private/dovecot.pem", "/etc/ssl/certs/ssl-cert-snakeoil.pem"}
        assert all(f"against webmail.{name}.test" in e["summary"]
                   and f"names {name}.test" in e["summary"] for e in found)
    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert applied.code == 1
    assert {name: host_digest(lab, name) for name in HOSTS} == before  # nothing written


@pytest.mark.parametrize("name", HOSTS)
def test_roundcube_really_verifies_the_certificate(clients_fleet: Fleet, name: str) -> None:
    """Told a peer name the certificate does not carry (by hand, behind mailstate's
    back), the host's real Roundcube cannot reach IMAP: verification is on."""
    lab = clients_fleet.lab
    host, alice = lab.host(name), lab.mail_user
    keep = lab.run(name, f"cp -p {CONFIG} /root/config.keep && wc -l < {ERRORS_LOG} "
                         "2>/dev/null || echo 0")
    seen = int(keep.stdout.split()[-1])
    try:
        edit = lab.run(name, f"sed -i \"s/'peer_name' => '{host.fqdn}'/'peer_name' => "
                             f"'webmail.{name}.test'/\" {CONFIG} && grep -c webmail {CONFIG}")
        assert edit.stdout.strip() == "2", edit.stdout + edit.stderr  # IMAP and SMTP
        login = Session(host.address).login(alice.name, alice.password)
        assert login.status == 401
        log = lab.run(name, f"tail -n +{seen + 1} {ERRORS_LOG}").stdout
        assert "Could not connect to ssl://localhost:993" in log, log
        # PHP's own reason: the certificate's name, not the chain, not the connection
        assert f"subjectAltName did not match expected name `webmail.{name}.test'" in log, log
    finally:
        lab.run(name, f"mv /root/config.keep {CONFIG}")
    assert Session(host.address).login(alice.name, alice.password).status == 302



SMTP_FAILED = "SMTP Error (): Connection to server failed."  # what Roundcube shows


def smtp_only_inventory(fleet: Fleet, directory: Path) -> str:
    """The fleet's inventory with a site state on top that sets only Roundcube's SMTP
    peer name to one the certificate does not carry (IMAP's stays mail_hostname)."""
    site = directory / "site.yaml"
    site.write_text(yaml.safe_dump({"roundcube": {"config": {"smtp_conn_options": {
        "ssl": {"peer_name": "webmail.{{ mail_hostname }}"}}}}}))
    document = yaml.safe_load(Path(fleet.inventory).read_text())
    document["all"]["vars"]["mailstate_states"] = ["hardened", str(site)]
    path = directory / "smtp-only.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_a_wrong_smtp_peer_name_alone_is_refused_at_plan_time(clients_fleet: Fleet,
                                                             tmp_path: Path) -> None:
    lab = clients_fleet.lab
    inventory = smtp_only_inventory(clients_fleet, tmp_path)
    before = {name: host_digest(lab, name) for name in HOSTS}
    plan = mailstate("plan", "-i", inventory, "--json", cwd=tmp_path)
    assert plan.code == 1, plan.stdout + plan.stderr
    assert {h["host"] for h in plan.json()["hosts"]} == set(HOSTS)
    for host in plan.json()["hosts"]:
        name = host["host"]
        [error] = host["errors"]  # SMTP's alone: IMAP's peer name is on the certificate
        assert error["code"] == "roundcube-peer-name"
        # Postfix's certificate (smtpd_tls_cert_file), not Dovecot's
        assert error["location"]["file"] == "/etc/ssl/certs/ssl-cert-snakeoil.pem"
        summary = error["summary"]
        assert (f"certificate of smtp_host tls://localhost:587 against webmail.{name}.test "
                "(its smtp_conn_options peer_name)") in summary, summary
        assert f"names {name}.test" in summary and SMTP_FAILED in summary, summary
        assert "imap" not in summary.lower()
    applied = mailstate("apply", "-i", inventory, "--yes", "--json", cwd=tmp_path)
    assert applied.code == 1
    assert {name: host_digest(lab, name) for name in HOSTS} == before  # nothing written


@pytest.mark.parametrize("name", HOSTS)
def test_roundcube_verifies_the_smtp_certificate_on_its_own(clients_fleet: Fleet,
                                                            name: str) -> None:
    """Only the SMTP peer name wrong (by hand, as mailstate refuses to write it): the
    login works (IMAP verifies), sending fails at STARTTLS, and nothing is delivered;
    with the peer name back, the same session sends."""
    lab = clients_fleet.lab
    host, alice = lab.host(name), lab.mail_user
    keep = lab.run(name, f"cp -p {CONFIG} /root/config.keep && wc -l < {ERRORS_LOG} "
                         "2>/dev/null || echo 0")
    seen = int(keep.stdout.split()[-1])
    refused = f"smtp-refused {uuid.uuid4().hex[:10]}"
    try:
        edit = lab.run(name, f"sed -i \"/^\\$config\\['smtp_conn_options'\\]/s/'peer_name' "
                             f"=> '{host.fqdn}'/'peer_name' => 'webmail.{name}.test'/\" "
                             f"{CONFIG} && grep peer_name {CONFIG}")
        assert edit.stdout.splitlines() == [
            f"$config['imap_conn_options'] = ['ssl' => ['peer_name' => '{host.fqdn}']];",
            f"$config['smtp_conn_options'] = ['ssl' => ['peer_name' => 'webmail.{name}.test']];"
        ], edit.stdout + edit.stderr
        session = Session(host.address)
        assert session.login(alice.name, alice.password).status == 302  # IMAP verified
        form = session.compose()
        [(identity, _)] = form.identities.items()
        sent = session.send(form, identity, alice.address(host), refused, "never sent")
        assert sent.status == 200 and "sent_successfully" not in sent.body
        assert SMTP_FAILED in sent.body, sent.body[-800:]
        log = lab.run(name, f"tail -n +{seen + 1} {ERRORS_LOG}").stdout
        # the TLS handshake failed after Postfix's 220, before any AUTH or MAIL FROM
        assert "SMTP Error: STARTTLS failed: 2.0.0 Ready to start TLS" in log, log
        if host.release == "trixie":  # Net_SMTP 1.12 logs PHP's reason; 1.10 drops it
            assert ("Peer certificate subjectAltName did not match expected name "
                    f"`webmail.{name}.test'") in log, log
    finally:
        lab.run(name, f"mv /root/config.keep {CONFIG}")
    control = f"smtp-verified {uuid.uuid4().hex[:10]}"
    form = session.compose()
    sent = session.send(form, identity, alice.address(host), control, "sent")
    assert "sent_successfully" in sent.body, sent.body[-800:]
    delivered(lab, name, alice.name, control)  # the later message is in her mailbox
    mailbox = lab.run(name, f"cat /var/mail/{alice.name}").stdout
    assert refused not in mailbox  # and the refused one never was
    assert "Mail queue is empty" in lab.run(name, "postqueue -p").stdout
