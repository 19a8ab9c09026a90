"""Lint: the seed guide's every mistake is found, hardened is clean, each rule fires."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.lint import RULES, lint
from mailstate.model import load_state

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "seed-guide.yaml"
NAMED = {"mail_hostname": "mail.example.com"}  # as an inventory gives it to the profile

# MAIL-FACTS.md "Wrong" list -> the rule that must flag it in the seed guide.
SEED_MISTAKES = {
    1: "postfix-smtpd-port",
    2: "postfix-smtpd-encrypt-global",
    3: "postfix-smtp-encrypt-global",
    4: "postfix-map-wildcard",
    5: "dovecot-obsolete-protocols",
    6: "roundcube-renamed-key",
    7: "roundcube-tls-verify-off",
    8: "postfix-master-duplicate",
    9: "postfix-inet-restart",
    10: "sasl-backend",
}


def codes(path: Path | str, text: str | None = None) -> dict[str, list]:
    if text is not None:
        Path(path).write_text(text)
    found: dict[str, list] = {}
    for diag in lint(load_state([path])):
        found.setdefault(diag.code, []).append(diag)
    return found


def test_every_seed_guide_mistake_is_found() -> None:
    found = codes(SEED)
    missing = {n: rule for n, rule in SEED_MISTAKES.items() if rule not in found}
    assert not missing
    for diags in found.values():
        for diag in diags:
            assert diag.location is not None and diag.location.file == str(SEED)
            assert diag.location.line is not None
            assert diag.fix and diag.reference


def test_seed_guide_findings_point_at_the_lines() -> None:
    found = codes(SEED)
    assert found["postfix-smtpd-port"][0].location.line == 14
    assert found["postfix-map-wildcard"][0].location.line == 51
    assert found["postfix-master-duplicate"][0].location.line == 24  # the second smtp/inet


def test_hardened_lints_clean() -> None:
    """Clean once the host's name is given; alone it asks for that name only."""
    assert lint(load_state([ROOT / "states" / "hardened.yaml"], NAMED)) == []
    alone = lint(load_state([ROOT / "states" / "hardened.yaml"]))
    assert [(d.code, d.severity) for d in alone] == [("mail-hostname-unset", "warning")]


def test_rule_ids_are_unique_and_documented() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.reference and r.title for r in RULES)


HARDENED = ROOT / "states" / "hardened.yaml"


def layered(tmp_path: Path, text: str) -> dict[str, list]:
    over = tmp_path / "over.yaml"
    over.write_text(text)
    found: dict[str, list] = {}
    for diag in lint(load_state([HARDENED, over], NAMED)):
        found.setdefault(diag.code, []).append(diag)
    return found


@pytest.mark.parametrize(("text", "rule"), [
    ("dovecot:\n  settings:\n    disable_plaintext_auth: no\n"
     "    service imap-login:\n      inet_listener imap: {port: 143}\n",
     "dovecot-plaintext-open"),
    ("dovecot:\n  settings:\n    auth_allow_cleartext: yes\n"
     "    service pop3-login:\n      inet_listener pop3: {port: null}\n",
     "dovecot-plaintext-open"),
    ("postfix:\n  master:\n    submission/inet:\n      options:\n"
     "        smtpd_tls_security_level: may\n", "submission-tls"),
    ("postfix:\n  master:\n    smtp/inet:\n      options: {smtpd_sasl_auth_enable: yes}\n",
     "auth-on-port-25"),
    ("postfix:\n  main: {smtpd_tls_auth_only: no}\n  master:\n    2525/inet:\n"
     "      command: smtpd\n      options: {smtpd_sasl_auth_enable: yes}\n",
     "auth-before-tls"),
    ("postfix:\n  main: {smtpd_sasl_type: cyrus}\n", "sasl-backend"),
    ("postfix:\n  main: {smtpd_sasl_path: private/auth-client}\n", "sasl-backend"),
    ("dovecot:\n  settings:\n    service auth:\n"
     "      unix_listener /var/spool/postfix/private/auth: {user: dovecot}\n", "sasl-backend"),
    ("vars: {imaps_address: 192.0.2.1}\n", "roundcube-imap-listener"),
    ("dovecot:\n  settings:\n    service imap-login:\n      inet_listener imaps: {port: 0}\n",
     "roundcube-imap-listener"),
    ("roundcube:\n  config: {imap_host: 'ssl://127.0.0.1:143'}\n", "roundcube-imap-listener"),
    ("roundcube:\n  config: {smtp_host: 'ssl://127.0.0.1:587'}\n", "roundcube-smtp-listener"),
    ("roundcube:\n  config: {smtp_host: '127.0.0.1:587'}\n", "roundcube-smtp-listener"),
    ("postfix:\n  master:\n    submission/inet: {absent: true}\n", "roundcube-smtp-listener"),
    ("dovecot:\n  settings:\n    protocols: imap pop3\n", "dovecot-bare-protocols"),
    ("dovecot:\n  settings:\n    ssl_cert: /etc/ssl/certs/mail.pem\n", "dovecot-ssl-cert"),
    ("postfix:\n  main: {smtpd_tls_cert_file: /etc/ssl/x.pem}\n", "tls-cert-files"),
    ("postfix:\n  main_extra: {smtpd_tls_securty_level: may}\n", "postfix-extra-typo"),
    ("postfix:\n  master:\n    smtp/inet:\n      options: {smtpd_tls_securty_level: may}\n",
     "postfix-option-typo"),
    ("postfix:\n  master:\n    25/inet: {command: smtpd}\n", "postfix-master-duplicate"),
    ("postfix:\n  main: {sender_canonical_maps: 'hash:/etc/postfix/canonical'}\n",
     "postfix-policy-map-missing"),
    ("roundcube:\n  config:\n    des_key: x\n    des_key: y\n", "yaml-duplicate-key"),
])
def test_each_rule_fires(tmp_path: Path, text: str, rule: str) -> None:
    found = layered(tmp_path, text)
    assert rule in found, {k: [d.summary for d in v] for k, v in found.items()}
    assert all(d.location is not None and d.location.line for d in found[rule])


def test_cert_paths_checked_against_facts(tmp_path: Path) -> None:
    over = tmp_path / "over.yaml"
    over.write_text("dovecot:\n  settings:\n    ssl_cert: </etc/ssl/mail.pem\n"
                    "    ssl_key: </etc/ssl/mail.key\n")
    resolved = load_state([HARDENED, over], NAMED)
    assert lint(resolved) == []
    found = lint(resolved, existing_paths={"/etc/ssl/mail.pem"})
    assert [d.code for d in found] == ["tls-cert-files"]
    assert "/etc/ssl/mail.key" in found[0].summary


def test_wildcard_imaps_serves_roundcube(tmp_path: Path) -> None:
    assert layered(tmp_path, "vars: {imaps_address: '*, ::'}\n") == {}
