"""The facts command guessed from state files (commands/_prefetch.py) is the engine's own.

A plan starts each host's facts command before the models have loaded, from what the
state files say; the answer is used only when the engine then asks for exactly that
command (`EarlyFirst`). These tests hold the guess equal to `facts_request` of the
validated state for every shipped profile and for layered states, overrides and map
types; where the files cannot tell (a `{{ variable }}` in a path), there is no guess;
and `EarlyFirst` answers only the same command, once (a real local transport).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailstate.commands._prefetch import first_commands
from mailstate.commands._targets import EarlyFirst
from mailstate.diagnostics import MailstateError
from mailstate.engine.compile import facts_request
from mailstate.engine.facts import gather_command
from mailstate.inventory import shared_state
from mailstate.inventory.load import load_inventory
from mailstate.inventory.states import SHIPPED_STATES
from mailstate.transport.base import Result
from mailstate.transport.local import LocalConnection

SITE = """\
postfix:
  main:
    smtpd_tls_cert_file: /etc/ssl/certs/mail.pem
  maps:
    /etc/postfix/sender_access:
      type: cdb
      entries: {spam.example: REJECT}
    /etc/postfix/tls_policy:
      type: lmdb
roundcube:
  path: /etc/roundcube/other.inc.php
"""
NO_DOVECOT = "dovecot: null\nvars: {x: 1}\n"
NO_TLS_TARGET = "roundcube:\n  config:\n    product_name: Mail\npostfix:\n  main: {}\n"
DOVECOT_CERT = "dovecot:\n  settings:\n    ssl_cert: </etc/ssl/certs/mail.pem\n"
TEMPLATED = """\
roundcube:
  path: "/etc/roundcube/{{ name }}.inc.php"
vars: {name: webmail}
"""


def inventory(tmp_path: Path, hosts: dict[str, dict[str, object]]) -> Path:
    states = tmp_path / "states"
    states.mkdir()
    (states / "site.yaml").write_text(SITE)
    (states / "nodovecot.yaml").write_text(NO_DOVECOT)
    (states / "notls.yaml").write_text(NO_TLS_TARGET)
    (states / "dovecotcert.yaml").write_text(DOVECOT_CERT)
    (states / "templated.yaml").write_text(TEMPLATED)
    path = tmp_path / "inventory.yaml"
    path.write_text(json.dumps({"all": {"hosts": {
        name: {"ansible_host": "127.0.0.1", "mail_hostname": "mx.example.org", **values}
        for name, values in hosts.items()}}}))
    return path


def engine_command(name: str, inv_path: Path) -> str:
    inv = load_inventory([str(inv_path)])
    return gather_command(facts_request(shared_state(inv.hosts[name], inv)))


def guesses(inv_path: Path) -> dict[str, str]:
    inv = load_inventory([str(inv_path)])
    return first_commands(inv, inv.select(None))


PROFILES = sorted(p.stem for p in SHIPPED_STATES.glob("*.yaml"))


def test_every_shipped_profile_is_guessed_as_the_engine_asks(tmp_path: Path) -> None:
    assert "hardened" in PROFILES
    hosts: dict[str, dict[str, object]] = {
        f"h-{name}": {"mailstate_states": [name]} for name in PROFILES}
    hosts["h-layered"] = {"mailstate_states": ["hardened", "site-example"]}
    path = inventory(tmp_path, hosts)
    guessed = guesses(path)
    assert set(guessed) == set(hosts)
    for name in hosts:
        assert guessed[name] == engine_command(name, path), name


def test_layers_overrides_and_map_types_merge_as_the_model_does(tmp_path: Path) -> None:
    path = inventory(tmp_path, {
        "site": {"mailstate_states": ["hardened", "site"]},
        "nodovecot": {"mailstate_states": ["hardened", "site", "nodovecot"]},
        "override": {"mailstate_states": ["hardened"], "mailstate_overrides": {
            "postfix": {"maps": {"/etc/postfix/virtual": {"type": "hash",
                                                           "entries": {"a@b.example": "c"}}}},
            "roundcube": None}},
        "empty": {"mailstate_states": []},
        "notls": {"mailstate_states": ["notls"]},
    })
    guessed = guesses(path)
    assert set(guessed) == {"site", "nodovecot", "override", "empty", "notls"}
    for name in guessed:
        assert guessed[name] == engine_command(name, path), name
    site = load_inventory([str(path)])
    request = facts_request(shared_state(site.hosts["site"], site))
    # what the cases above are about: they do change the request
    assert "/etc/postfix/sender_access.cdb" in request.stats
    assert "/etc/postfix/tls_policy.lmdb" in request.stats
    assert request.files[-1] == "/etc/roundcube/other.inc.php"
    # the certificates Roundcube's peer names are checked against: Postfix's own one
    assert request.certs == ("/etc/dovecot/private/dovecot.pem", "/etc/ssl/certs/mail.pem")
    notls = facts_request(shared_state(site.hosts["notls"], site))
    assert notls.files and not notls.certs


def test_no_guess_where_the_files_cannot_tell(tmp_path: Path) -> None:
    path = inventory(tmp_path, {
        "templated": {"mailstate_states": ["hardened", "templated"]},
        "missing": {"mailstate_states": ["hardened", "no-such-state"]},
        "secret-path": {"mailstate_states": ["hardened"],
                        "mailstate_overrides": {"roundcube": {"path": 7}}},
        "dovecot-cert": {"mailstate_states": ["hardened", "dovecotcert"]},
        "plain": {"mailstate_states": ["hardened"]},
    })
    assert set(guesses(path)) == {"plain"}
    assert "/etc/ssl/certs/mail.pem" in engine_command("dovecot-cert", path)
    # the engine still plans the templated one: its command simply was not guessed
    assert "/etc/roundcube/webmail.inc.php" in engine_command("templated", path)


def test_early_first_answers_only_the_same_command_once() -> None:
    conn = LocalConnection("here")
    early = conn.run("echo early")
    first = EarlyFirst(conn, "echo early", early)
    assert first.run("echo early") == Result(0, b"early\n", b"")
    assert first.round_trips == 1  # answered from the early run
    assert first.run("echo early").stdout == b"early\n"
    assert first.round_trips == 2  # the second time it runs again

    other = EarlyFirst(conn, "echo early", Result(0, b"stale\n", b""))
    assert other.run("echo other").stdout == b"other\n"  # a different command runs
    assert other.run("echo early").stdout == b"early\n"  # and the early answer is gone
    with_stdin = EarlyFirst(conn, "cat", Result(0, b"", b""))
    assert with_stdin.run("cat", b"typed").stdout == b"typed"


def test_early_first_raises_what_the_early_run_raised() -> None:
    failed = MailstateError([])
    first = EarlyFirst(LocalConnection(), "echo x", failed)
    with pytest.raises(MailstateError) as raised:
        first.run("echo x")
    assert raised.value is failed
    assert first.run("echo x").stdout == b"x\n"


@pytest.mark.parametrize("overrides", [
    {"postfix": {"maps": {"/etc/shadow": {"type": "texthash"}}}},
    {"postfix": {"maps": {"/etc/postfix/main.cf": {"type": "texthash"}}}},
    {"postfix": {"maps": {"/etc/postfix/../shadow": {"type": "texthash"}}}},
    {"postfix": {"maps": {"/etc/postfix/a b": {"type": "texthash"}}}},
    {"postfix": {"maps": {"/etc/postfix/$(reboot)": {"type": "hash"}}}},
    {"roundcube": {"path": "/etc/passwd"}},
    {"roundcube": {"path": "/etc/roundcube//config.inc.php"}},
    {"postfix": {"main": {"smtpd_tls_cert_file": "/root/.ssh/id_rsa"}}},
    {"postfix": {"main": {"smtpd_tls_cert_file": "/etc/ssl/private/../../shadow"}}},
], ids=lambda o: json.dumps(o)[:60])
def test_no_early_read_of_a_path_the_model_has_not_checked(
        tmp_path: Path, overrides: dict[str, object]) -> None:
    """The early command reads files before validation: a path outside its kind's
    directory, or not plain, is never guessed into it (the engine asks, or refuses,
    after the model has checked the path)."""
    path = inventory(tmp_path, {
        "hostile": {"mailstate_states": ["hardened"], "mailstate_overrides": overrides},
        "plain": {"mailstate_states": ["hardened"]},
    })
    guessed = guesses(path)
    assert set(guessed) == {"plain"}
    for forbidden in ("/etc/shadow", "/etc/passwd", "/root/", "main.cf\nmain.cf"):
        assert forbidden not in guessed["plain"]
