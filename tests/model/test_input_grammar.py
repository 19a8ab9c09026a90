"""One grammar per file kind: each hostile value of issue #16 is refused by the model.

Every case is a value that, written into its file, changed what the daemon reads (a new
master.cf service, new map entries, a truncated main.cf value, a file read into the
IMAP banner...). The model must refuse it with file:line:column and what was expected,
before any plan; and never echo a secret while doing so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstate.diagnostics import Diagnostic, MailstateError
from mailstate.model import load_state

OPEN_RELAY = (
    "smtpd\\n2525 inet n - n - - smtpd -o smtpd_relay_restrictions=permit"
    " -o smtpd_recipient_restrictions=permit"
)


def errors_of(tmp_path: Path, text: str) -> tuple[Path, list[Diagnostic]]:
    path = tmp_path / "state.yaml"
    path.write_text(text)
    with pytest.raises(MailstateError) as info:
        load_state([path])
    return path, info.value.diagnostics


# (state text, file:line:col of the error, words the message must say)
CASES = {
    "master-command-newline": (
        f'postfix:\n  master:\n    smtp/inet:\n      command: "{OPEN_RELAY}"\n',
        "4:16", "a newline at character 6"),
    "master-option-brace": (
        "postfix:\n  master:\n    submission/inet:\n      command: smtpd\n      options:\n"
        "        smtpd_recipient_restrictions: 'x } -o smtpd_relay_restrictions=permit'\n",
        "6:39", "braces balance"),
    "master-option-newline": (
        "postfix:\n  master:\n    submission/inet:\n      command: smtpd\n      options:\n"
        "        syslog_name: \"a\\n  -o smtpd_relay_restrictions=permit\"\n",
        "6:22", "a newline"),
    "master-option-leading-brace": (
        "postfix:\n  master:\n    submission/inet:\n      command: smtpd\n      options:\n"
        "        syslog_name: '{c}d'\n", "6:22", "does not start with '{'"),
    "master-command-unclosed-brace": (
        "postfix:\n  master:\n    t/unix:\n      command: 'pipe argv={x'\n", "4:16",
        "never closed"),
    "master-command-with-o": (
        "postfix:\n  master:\n    t/unix:\n      command: 'smtpd -o a=b'\n", "4:16",
        "under 'options:'"),
    "map-content-newline": (
        "postfix:\n  maps:\n    /etc/postfix/transport:\n      content:\n"
        "        example.com: \"smtp:[a]\\nevil.example smtp:[b]\"\n", "5:22", "a newline"),
    "map-key-space": (
        "postfix:\n  maps:\n    /etc/postfix/transport:\n      content:\n"
        "        'a.example evil': smtp\n", "5:9", "without blanks"),
    "map-key-comment": (
        "postfix:\n  maps:\n    /etc/postfix/transport:\n      entries:\n"
        "        '#example.com': smtp\n", "5:9", "does not start with '#'"),
    "map-key-case-twice": (
        "postfix:\n  maps:\n    /etc/postfix/transport:\n      entries:\n"
        "        example.com: smtp\n        Example.COM: relay\n", "6:9", "written once"),
    "map-empty-value": (
        "postfix:\n  maps:\n    /etc/postfix/transport:\n      entries:\n"
        "        example.com: '  '\n", "5:22", "not empty"),
    "cidr-key": (
        "postfix:\n  maps:\n    /etc/postfix/access:\n      type: cidr\n      entries:\n"
        "        not-a-net: REJECT\n", "6:9", "an address or network"),
    "main-nul": (
        "postfix:\n  main:\n    smtpd_banner: \"$myhostname ESMTP\\0 hidden\"\n", "3:19",
        "a NUL byte"),
    "main-newline": (
        "postfix:\n  main:\n    myhostname: \"mx.example\\nrelayhost = evil\"\n", "3:17",
        "a newline"),
    "main-extra-newline": (
        "postfix:\n  main_extra:\n    my_param: \"a\\nrelayhost = evil\"\n", "3:15",
        "a newline"),
    "main-int-reference-newline": (
        "postfix:\n  main:\n    smtpd_timeout: \"$x\\nrelayhost = evil\"\n", "3:20",
        "a newline"),
    "main-lone-dollar": (  # a fatal "macro processing error" for every Postfix program
        "postfix:\n  main:\n    smtpd_banner: 'costs 5$'\n", "3:19", "write '$$'"),
    "main-unclosed-macro": (
        "postfix:\n  main:\n    relayhost: '${relay'\n", "3:16", "no matching '}'"),
    "main-tab": (  # Postfix reads a tab inside a value as a space
        "postfix:\n  main:\n    smtpd_banner: \"a\\tb\"\n", "3:19", "a tab"),
    "option-lone-dollar": (
        "postfix:\n  master:\n    submission/inet:\n      command: smtpd\n      options:\n"
        "        smtpd_banner: 'x $'\n", "6:23", "a lone '$'"),
    "map-key-open-quote": (
        "postfix:\n  maps:\n    /etc/postfix/virtual:\n      content:\n"
        "        'a\"b@example.com': c\n", "5:9", "quotes are closed"),
    "dovecot-section-quote": (
        'dovecot:\n  settings:\n    namespace inbox:\n      \'mailbox a"b\':\n'
        "        special_use: \\Sent\n", "4:7", "no escapes"),
    "dovecot-value-file": (
        'dovecot:\n  settings:\n    login_greeting: "</root/secret"\n', "3:21",
        "Dovecot would read the file"),
    "dovecot-file-relative": (
        'dovecot:\n  settings:\n    ssl_cert: "<cert.pem"\n', "3:15", "absolute path"),
    "dovecot-value-newline": (
        'dovecot:\n  settings:\n    plugin:\n      x: "a\\n}\\nauth_debug = yes"\n', "4:10",
        "a newline"),
    "roundcube-key-quote": (
        "roundcube:\n  config:\n    \"a'b\": 1\n", "3:5", "a Roundcube key"),
    "roundcube-key-backslash": (
        "roundcube:\n  config:\n    'a\\b': 1\n", "3:5", "a Roundcube key"),
    "roundcube-control": (
        "roundcube:\n  config:\n    product_name: \"x\\e[2J\"\n", "3:19",
        "control characters"),
    "roundcube-int-range": (
        "roundcube:\n  config:\n    max_size: 99999999999999999999\n", "3:15", "64-bit range"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_value_is_refused_at_its_location(tmp_path: Path, case: str) -> None:
    text, where, words = CASES[case]
    path, diags = errors_of(tmp_path, text)
    assert [str(d.location) for d in diags] == [f"{path}:{where}"], [d.format() for d in diags]
    assert words in diags[0].summary, diags[0].summary


def test_lint_reports_the_open_relay_command_with_file_line_column(tmp_path: Path) -> None:
    from tests.engine.conftest import mailstate

    state = tmp_path / "relay.yaml"
    state.write_text(CASES["master-command-newline"][0])
    out = mailstate("lint", str(state))
    assert out.code == 1, out.stdout
    assert f"{state}:4:16: error" in out.stdout
    assert "Traceback" not in out.stderr


def test_values_are_normalised_as_the_daemons_read_them(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "postfix:\n  main:\n    smtpd_banner: '  $myhostname ESMTP  '\n"
        "  master:\n    t/unix:\n      command: \"pipe  flags=R\\targv=/bin/x ${recipient}\"\n"
        "      options: {syslog_name: ' postfix/t '}\n"
        "dovecot:\n  settings:\n    ssl_cert: '<  /etc/ssl/certs/mail.pem'\n"
        "    'namespace inbox/mailbox Sent  Messages/special_use': \\Sent\n")
    state = load_state([path]).state
    assert state.postfix is not None and state.dovecot is not None
    assert state.postfix.main_values()["smtpd_banner"] == "$myhostname ESMTP"
    service = state.postfix.master["t/unix"]
    assert service.command == "pipe flags=R argv=/bin/x ${recipient}"
    assert service.options == {"syslog_name": "postfix/t"}
    flat = state.dovecot.settings_flat()
    assert flat[("ssl_cert",)] == "</etc/ssl/certs/mail.pem"
    assert flat[("namespace inbox", "mailbox Sent Messages", "special_use")] == "\\Sent"


def test_errors_never_echo_a_secret(tmp_path: Path) -> None:
    secret = "Hunter2-not-a-tls-level"
    typed = errors_of(tmp_path, (
        "postfix:\n  master:\n    submission/inet:\n      command: smtpd\n      options:\n"
        f"        smtpd_tls_security_level: !secret {secret}\n"))[1]
    _, diags = errors_of(tmp_path, (
        "postfix:\n  master:\n    submission/inet:\n      command: smtpd\n      options:\n"
        f"        smtp_sasl_password_maps: !secret \"{secret}\\nb\"\n"
        "  maps:\n    /etc/postfix/sasl_passwd:\n      secret: true\n      content:\n"
        f"        '[relay]:587': \"user:{secret}\\nmore\"\n"
        "dovecot:\n  settings:\n"
        f"    plugin: {{mail_crypt_private_password: !secret \"{secret}\\n\"}}\n"
        f"roundcube:\n  config:\n    smtp_pass: \"{secret}\\x1b\"\n"))
    diags += typed
    assert len(diags) == 5, [d.format() for d in diags]
    assert "one of none, may" in typed[0].summary
    for diag in diags:
        assert secret not in diag.format() and secret not in str(diag.to_json())
        assert "a secret value" in diag.summary


def test_secret_options_stay_secret(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("postfix:\n  master:\n    submission/inet:\n      command: smtpd\n"
                    "      options: {smtpd_sasl_path: !secret private/very-secret-auth}\n")
    resolved = load_state([path])
    from mailstate.model.rows import state_rows

    assert "private/very-secret-auth" in resolved.state.secret_values()
    assert all("very-secret" not in r.value for r in state_rows(resolved))
    plain = resolved.state.reveal()
    assert plain.postfix is not None
    assert plain.postfix.master["submission/inet"].options["smtpd_sasl_path"] == \
        "private/very-secret-auth"
