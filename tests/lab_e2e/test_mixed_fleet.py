"""The shipped hardened profile on a real mixed fleet: Debian 12 and Debian 13 side by side.

One inventory, one state (`states/hardened.yaml`), through the real CLI: each host gets
its own Dovecot's spelling, both converge, the second plan is empty, the audit passes
from the network, a real SMTP client sees AUTH on 587 only after STARTTLS and logs in
as the lab's mail user, and `mailstate rollback` brings each host back to stock.
The fleet is applied once per module (`hardened_mixed`); the rollback test comes last.
"""

from __future__ import annotations

import smtplib

import pytest

from tests.engine.conftest import host_digest, listeners, mailstate
from tests.lab_e2e.conftest import HOSTS, WRITTEN, Fleet
from tests.tlsnames import named_context

# Debian 12 (Dovecot 2.3) and Debian 13 (Dovecot 2.4) spell the same intent differently
SPELLING = {
    "h1": ("+    address = 127.0.0.1", "+disable_plaintext_auth = yes"),
    "h2": ("+    listen = 127.0.0.1", "+auth_allow_cleartext = no"),
}
SERIES = {"h1": ("3.7.", "1:2.3."), "h2": ("3.10.", "1:2.4.")}


def test_one_inventory_plans_each_host_in_its_own_releases_spelling(
        hardened_mixed: Fleet) -> None:
    plan = hardened_mixed.plan
    assert plan.code == 2, plan.stdout + plan.stderr
    hosts = {h["host"]: h for h in plan.json()["hosts"]}
    assert set(hosts) == set(HOSTS)
    for name, host in hosts.items():
        postfix, dovecot = SERIES[name]
        assert host["versions"]["postfix"].startswith(postfix), host["versions"]
        assert host["versions"]["dovecot"].startswith(dovecot), host["versions"]
        assert host["changed"] and host["errors"] == [] and host["round_trips"] == 1
        diffs = "\n".join(c["diff"] for c in host["changes"])
        for line in SPELLING[name]:
            assert line in diffs, (name, line)
        other = SPELLING["h2" if name == "h1" else "h1"]
        assert not any(line in diffs for line in other), name


def test_apply_converges_both_releases_and_the_second_plan_is_empty(
        hardened_mixed: Fleet) -> None:
    applied, lab = hardened_mixed.apply, hardened_mixed.lab
    assert applied.code == 0, applied.stdout + applied.stderr
    assert [(h["host"], h["status"]) for h in applied.json()["hosts"]] == [
        ("h1", "applied"), ("h2", "applied")]
    for name in HOSTS:
        found = listeners(lab, name)
        open_ports = {int(a.rsplit(":", 1)[1]) for a in found}
        assert {25, 465, 587, 995} <= open_ports and not {110, 143} & open_ports, found
        assert {a for a in found if a.endswith(":993")} == {"127.0.0.1:993"}, found
        # the running Dovecot took the host's spelling: 2.4 answers to `listen` only
        key = "address" if name == "h1" else "listen"
        shown = lab.run(name, f"doveconf -h service/imap-login/inet_listener/imaps/{key}")
        assert shown.stdout.strip() == "127.0.0.1", (name, shown.stderr)
    again = mailstate("plan", "-i", hardened_mixed.inventory, "--json")
    assert again.code == 0, again.stdout + again.stderr
    assert not any(h["changed"] for h in again.json()["hosts"])


def test_audit_passes_on_both_from_the_network(hardened_mixed: Fleet) -> None:
    out = mailstate("audit", "-i", hardened_mixed.inventory, "--cafile",
                    str(hardened_mixed.lab.ca_path), "--json")
    assert out.code == 0, out.stdout + out.stderr
    report = out.json()
    assert report["ok"] and [h["name"] for h in report["hosts"]] == list(HOSTS)
    for host in report["hosts"]:
        assert host["ok"] and host["ssh_checked"] and host["state_known"], host["findings"]
        assert host["expected_name"] == f"{host['name']}.test"
        by_port = {p["port"]: p for p in host["ports"]}
        for port in (465, 587, 995):  # the certificate verified by name on each TLS port
            tls = by_port[port]["tls"]
            assert tls["verified"] and tls["name_matched"], (host["name"], port, tls)
        assert by_port[587]["auth_before_tls"] == [] and by_port[587]["auth_after_tls"]


@pytest.mark.parametrize("name", HOSTS)
def test_submission_offers_auth_only_after_starttls_and_the_mail_user_logs_in(
        hardened_mixed: Fleet, name: str) -> None:
    lab = hardened_mixed.lab
    user = lab.mail_user
    context = named_context(lab.ca_path, lab.host(name).fqdn)  # its DNS name only
    with smtplib.SMTP(lab.host(name).address, 587, timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth"), smtp.esmtp_features
        code, text = smtp.docmd("AUTH", "PLAIN")  # not offered, and not accepted either
        assert code == 530 and b"STARTTLS" in text, text
        code, _ = smtp.starttls(context=context)
        assert code == 220
        smtp.ehlo("client.test")
        assert "PLAIN" in smtp.esmtp_features.get("auth", "").split()
        code, text = smtp.login(user.name, user.password)
        assert code == 235, text


def test_rollback_puts_each_host_back_to_its_stock_files_and_listeners(
        hardened_mixed: Fleet) -> None:
    lab = hardened_mixed.lab
    for name in HOSTS:
        assert host_digest(lab, name, WRITTEN) != hardened_mixed.stock_files[name]
        out = mailstate("rollback", name, "-i", hardened_mixed.inventory, "--yes", "--json")
        assert out.code == 0, out.stdout + out.stderr
        assert host_digest(lab, name, WRITTEN) == hardened_mixed.stock_files[name]
        # the map index postmap created went with the map: stock has neither
        assert lab.run(name, "ls /etc/postfix/tls_policy.db").returncode != 0
        # the rollback waited for the services: the stock listeners are back (110, 143
        # open again, 465 and 587 closed, 993 public)
        assert listeners(lab, name) == hardened_mixed.stock_listeners[name]
