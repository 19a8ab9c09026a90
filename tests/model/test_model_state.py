"""The state model: accessors the engine uses, typing, secrets, flat/nested Dovecot keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.model import MailState, load_state
from mailstate.model.dovecot import split_flat_key

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_hardened_accessors() -> None:
    state = load_state([REPO / "states/hardened.yaml"]).state
    main = state.postfix.main_values()
    assert main["smtpd_tls_security_level"] == "may"
    assert main["smtp_tls_note_starttls_offer"] == "yes"
    assert main["smtp_tls_policy_maps"] == "hash:/etc/postfix/tls_policy"
    sub = state.postfix.master["submission/inet"]
    assert sub.fields() == {"private": "n", "unpriv": "-", "chroot": "y", "wakeup": "-",
                            "maxproc": "-", "command": "smtpd"}
    assert sub.options["smtpd_client_restrictions"] == "permit_sasl_authenticated,reject"
    assert sub.options["smtpd_sasl_auth_enable"] == "yes"
    assert state.postfix.master["submissions/inet"].options["smtpd_tls_wrappermode"] == "yes"
    policy = state.postfix.maps["/etc/postfix/tls_policy"]
    assert policy.needs_postmap() and "*" not in (policy.entries or {})
    flat = state.dovecot.settings_flat()
    assert flat[("service imap-login", "inet_listener imap", "port")] == "0"
    assert flat[("service imap-login", "inet_listener imaps", "address")] == "127.0.0.1"
    assert flat[("service auth", "unix_listener /var/spool/postfix/private/auth", "mode")] \
        == "0660"
    assert ("protocols",) not in flat
    assert state.roundcube.path == "/etc/roundcube/config.inc.php"
    assert state.roundcube.config["imap_host"] == "ssl://localhost:993"  # as Debian stores it
    assert state.roundcube.config["imap_conn_options"] == {"ssl": {"peer_name": "localhost"}}
    assert state.roundcube.config["mail_domain"] == "localhost"  # follows mail_hostname
    assert state.roundcube.config["default_host"] is None


def test_typed_values_render_as_postfix_writes_them(tmp_path: Path) -> None:
    path = write(tmp_path, """
postfix:
  main:
    smtpd_tls_auth_only: true
    smtpd_timeout: 300s
    message_size_limit: "1024"
    mynetworks: [127.0.0.0/8, "[::1]/128"]
    relayhost: null
    compatibility_level: 3.10
  main_extra:
    some_future_parameter: [a, b]
""")
    values = load_state([path]).state.postfix.main_values()
    assert values == {
        "compatibility_level": "3.10", "message_size_limit": "1024",
        "mynetworks": "127.0.0.0/8, [::1]/128", "relayhost": None,
        "smtpd_timeout": "300s", "smtpd_tls_auth_only": "yes",
        "some_future_parameter": "a, b",
    }


def test_flat_and_nested_dovecot_keys_are_the_same_setting(tmp_path: Path) -> None:
    flat = write(tmp_path, """
dovecot:
  settings:
    "service imap-login/inet_listener imap/port": 0
    "service auth/unix_listener /var/spool/postfix/private/auth/user": postfix
    "service auth/unix_listener /var/spool/postfix/private/auth":
      group: postfix
""", "flat.yaml")
    nested = write(tmp_path, """
dovecot:
  settings:
    service imap-login: {inet_listener imap: {port: 0}}
    service auth:
      unix_listener /var/spool/postfix/private/auth: {user: postfix, group: postfix}
""", "nested.yaml")
    assert load_state([flat]).state == load_state([nested]).state
    # python construction accepts flat keys too
    direct = MailState.model_validate(
        {"dovecot": {"settings": {"service imap-login/inet_listener imap/port": "0"}}})
    assert direct.dovecot.settings_flat() == {
        ("service imap-login", "inet_listener imap", "port"): "0"}


@pytest.mark.parametrize(("key", "section", "parts"), [
    ("ssl", False, ["ssl"]),
    ("service imap-login/inet_listener imaps/port", False,
     ["service imap-login", "inet_listener imaps", "port"]),
    ("service auth/unix_listener /var/spool/postfix/private/auth/mode", False,
     ["service auth", "unix_listener /var/spool/postfix/private/auth", "mode"]),
    ("unix_listener /var/spool/postfix/private/auth", True,
     ["unix_listener /var/spool/postfix/private/auth"]),
])
def test_flat_key_rule(key: str, section: bool, parts: list[str]) -> None:
    assert split_flat_key(key, section) == parts


def test_secrets_are_wrapped_and_revealed_only_on_demand(tmp_path: Path) -> None:
    path = write(tmp_path, """
postfix:
  maps:
    /etc/postfix/sasl_passwd:
      secret: true
      entries: {"[relay.example.net]:587": "user:hunter2-relay"}
roundcube:
  config:
    des_key: rcmail-24-byte-des-key!!
    smtp_pass: "%p"
dovecot:
  settings:
    ssl_key_password: !secret dovecot-key-pass
""")
    state = load_state([path]).state
    assert state.secret_values() == {"user:hunter2-relay", "rcmail-24-byte-des-key!!",
                                     "dovecot-key-pass"}
    dumped = state.model_dump_json()
    assert not any(secret in dumped for secret in state.secret_values())
    revealed = state.reveal()
    assert revealed.roundcube.config["des_key"] == "rcmail-24-byte-des-key!!"
    assert revealed.postfix.maps["/etc/postfix/sasl_passwd"].entries == {
        "[relay.example.net]:587": "user:hunter2-relay"}
    assert revealed.dovecot.settings_flat()[("ssl_key_password",)] == "dovecot-key-pass"
    assert revealed.roundcube.config["smtp_pass"] == "%p"


def test_variables_default_and_override(tmp_path: Path) -> None:
    path = write(tmp_path, """
vars: {addr: 127.0.0.1, port: 993}
dovecot:
  settings:
    service imap-login:
      inet_listener imaps: {address: "{{ addr }}", port: "{{ port }}"}
roundcube:
  config: {imap_host: "ssl://{{addr}}:{{ port }}"}
""")
    state = load_state([path]).state
    assert state.dovecot.get("service imap-login", "inet_listener imaps", "port") == 993
    state = load_state([path], {"addr": "*"}).state
    assert state.roundcube.config["imap_host"] == "ssl://*:993"


def test_undefined_variable_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "postfix:\n  main:\n    myhostname: '{{ nope }}'\n")
    with pytest.raises(MailstateError) as info:
        load_state([path])
    assert str(info.value.diagnostics[0].location) == f"{path}:3:17"
    assert "nope" in info.value.diagnostics[0].summary
