"""Every kind of invalid state gives file:line:column, the path, expected and found."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.diagnostics import Diagnostic, MailstateError
from mailstate.model import load_state


def errors_of(tmp_path: Path, text: str) -> tuple[Path, list[Diagnostic]]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MailstateError) as info:
        load_state([path])
    return path, info.value.diagnostics


def test_typo_gets_a_did_you_mean_hint(tmp_path: Path) -> None:
    path, diags = errors_of(tmp_path, "postfix:\n  main:\n    smtpd_tls_securty_level: may\n")
    assert len(diags) == 1
    assert str(diags[0].location) == f"{path}:3:5"
    assert "smtpd_tls_securty_level" in diags[0].summary
    assert "did you mean 'smtpd_tls_security_level'" in diags[0].fix


def test_smtpd_port_in_main_explains_master_cf(tmp_path: Path) -> None:
    _, diags = errors_of(tmp_path, "postfix:\n  main:\n    smtpd_port: 465\n")
    assert "submissions/inet" in diags[0].fix


@pytest.mark.parametrize(("text", "where", "expected", "found"), [
    ("postfix:\n  main:\n    smtpd_tls_security_level: encrpyt\n", "3:31",
     "one of none, may, encrypt", "'encrpyt'"),
    ("postfix:\n  main:\n    smtp_tls_note_starttls_offer: maybe\n", "3:35", "yes or no",
     "'maybe'"),
    ("postfix:\n  main:\n    smtpd_timeout: soon\n", "3:20", "a time value", "'soon'"),
    ("postfix:\n  main:\n    message_size_limit: -5\n", "3:25", "non-negative integer", "-5"),
    ("postfix:\n  master:\n    127.0.0.1:nosuchport/inet: {command: smtpd}\n", "3:5",
     "an inet service name", "127.0.0.1:nosuchport/inet"),
    ("postfix:\n  master:\n    70000/inet: {command: smtpd}\n", "3:5",
     "an inet service name", "70000/inet"),
    ("postfix:\n  master:\n    smtp/tcp: {command: smtpd}\n", "3:5", "service type", "tcp"),
    ("postfix:\n  master:\n    smtp/inet: {chroot: maybe}\n", "3:25", "y, n or -", "maybe"),
    ("postfix:\n  master:\n    smtp/inet:\n      options: {smtpd_tls_security_level: encrpt}\n",
     "4:43", "one of none, may", "'encrpt'"),
    ("postfix:\n  maps:\n    relative/path: {entries: {a: b}}\n", "3:5", "absolute", ""),
    ("postfix:\n  maps:\n    /etc/postfix/x: {type: hash}\n", "3:21", "exactly one of", ""),
    ("dovecot:\n  settings:\n    service imap-login:\n      inet_listener imap:\n"
     "        port: 99999\n", "5:15", "port number 0-65535", "99999"),
    ("dovecot:\n  settings:\n    ssl: sometimes\n", "3:10", "yes, no or required",
     "'sometimes'"),
    ("dovecot:\n  settings:\n    ssl_min_protocol: TLSv9\n", "3:23", "one of ANY", "'TLSv9'"),
    ("dovecot:\n  settings:\n    service imap-login/inet_listener imaps/address: 'not an ip!'\n",
     "3:53", "addresses", "'not an ip!'"),
    ("dovecot:\n  settings:\n    'service imap-login//port': 1\n", "3:5", "section", ""),
    ("roundcube:\n  path: config.inc.php\n", "2:9", "absolute path", "'config.inc.php'"),
    ("postfix:\n  mian: {}\n", "2:3", "a known key", "'mian'"),
    ("postfix: [1, 2]\n", "1:10", "a mapping", "a list"),
    ("postfix:\n  main: {myhostname: x\n", "3:1", "", ""),  # YAML syntax
])
def test_each_error_kind_is_located(tmp_path: Path, text: str, where: str, expected: str,
                                    found: str) -> None:
    path, diags = errors_of(tmp_path, text)
    assert len(diags) == 1, [d.format() for d in diags]
    diag = diags[0]
    assert str(diag.location) == f"{path}:{where}", diag.format()
    message = diag.format()
    assert expected in message or expected in str(diag.extra)
    assert found in message


def test_one_message_per_problem(tmp_path: Path) -> None:
    _, diags = errors_of(tmp_path, """
postfix:
  main:
    smtpd_tls_security_level: bogus
    smtpd_tls_auth_only: perhaps
dovecot:
  settings:
    service imap-login:
      inet_listener imap: {port: -1}
      inet_listener imaps: {port: 70000}
""")
    assert sorted((d.location.line, d.location.column) for d in diags) == [
        (4, 31), (5, 26), (9, 34), (10, 35)]


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    _, diags = errors_of(tmp_path, "postfix:\n  main:\n"
                               "    smtpd_tls_security_level: !secret hunter2\n")
    assert len(diags) == 1 and "a secret value" in diags[0].summary
    assert "hunter2" not in diags[0].format()
    _, diags = errors_of(tmp_path, "postfix:\n  main:\n    relayhost: !secret [hunter2]\n")
    assert str(diags[0].location).endswith(":3:16") and "hunter2" not in diags[0].format()
