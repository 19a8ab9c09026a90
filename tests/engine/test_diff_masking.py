"""Secrets are masked on both sides of a diff and in its context lines, by declaration.

Each case has a secret the state does not hold (the old value, or another line of a
secret map): masking only the state's secret strings would show it.
"""

from __future__ import annotations

from pathlib import Path

from mailstate.engine.diff import MASK, unified_diff
from mailstate.formats.masks import FileSecrets, masked_lines
from mailstate.model import load_state
from mailstate.model.state import MailState

OLD, NEW, OTHER = "OldPass-1111", "NewPass-2222", "OtherPass-3333"


def _state(tmp_path: Path, text: str) -> MailState:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_state([path]).state


def _diff(state: MailState, path: str, service: str, before: bytes, after: bytes) -> str:
    return unified_diff(path, before, after, state.secret_values(),
                        file_secrets=state.file_secrets(path, service))


def test_secret_map_shows_no_value_on_either_side_nor_in_context(tmp_path: Path) -> None:
    state = _state(tmp_path, "postfix:\n  maps:\n    /etc/postfix/sasl_passwd:\n"
                   "      secret: true\n      entries:\n"
                   f"        '[b.example]:587': 'u:{NEW}'\n")
    before = (f"# old relay: u:{OTHER}\n[a.example]:587 u:{OTHER}\n"
              f"[b.example]:587 u:{OLD}\n[c.example]:587\tu:{OTHER}\n  {OTHER}\n").encode()
    after = before.replace(OLD.encode(), NEW.encode())
    diff = _diff(state, "/etc/postfix/sasl_passwd", "map", before, after)
    for secret in (OLD, NEW, OTHER, "u:"):
        assert secret not in diff, diff
    assert f"-[b.example]:587 {MASK}" in diff and f"+[b.example]:587 {MASK}" in diff
    assert f" [a.example]:587 {MASK}" in diff and f" [c.example]:587\t{MASK}" in diff
    assert f" #{MASK}\n" in diff  # a comment of a secret map may hold an old password


def test_a_single_secret_entry_of_a_plain_map_is_masked_on_both_sides(tmp_path: Path) -> None:
    state = _state(tmp_path, "postfix:\n  maps:\n    /etc/postfix/relay_auth:\n"
                   f"      entries:\n        b.example: !secret 'u:{NEW}'\n")
    before = f"a.example u:visible\nB.example u:{OLD}\n".encode()
    diff = _diff(state, "/etc/postfix/relay_auth", "map", before,
                 before.replace(OLD.encode(), NEW.encode()))
    assert OLD not in diff and NEW not in diff and " a.example u:visible" in diff


def test_old_roundcube_secrets_are_masked_at_any_depth(tmp_path: Path) -> None:
    state = _state(tmp_path, f"roundcube:\n  config:\n    smtp_pass: '{NEW}'\n")
    before = ("<?php\n$config['smtp_pass'] = '" + OLD + "';\n"
              "$config['ldap_public']['corp'] = [\n  'hosts' => ['ldap.example'],\n"
              "  'bind_pass' => '" + OTHER + "',\n  'search_fields' => ['mail'],\n];\n"
              "$config['oauth_client_secret'] = \"" + OTHER + "\";\n"
              "if (true) {\n  $config['api_token'] = '" + OTHER + "';\n}\n"
              "$config['imap_auth_pass'] = '%p';\n"
              "$config['db_dsnw'] = 'mysql://roundcube:" + OTHER + "@localhost/rc';\n"
              "$config['password_db_dsn'] = 'pgsql://pw:" + OTHER + "@db/mail';\n").encode()
    after = before.replace(OLD.encode(), NEW.encode()) + b"$config['x'] = 1;\n"
    diff = _diff(state, "/etc/roundcube/config.inc.php", "roundcube", before, after)
    assert OLD not in diff and NEW not in diff
    masked = "".join(masked_lines(before.decode(), FileSecrets("roundcube")))
    assert OTHER not in masked and OLD not in masked
    assert "'hosts' => ['ldap.example']" in masked and "'%p'" in masked


def test_old_values_of_declared_secrets_are_masked(tmp_path: Path) -> None:
    state = _state(tmp_path, (
        "postfix:\n  main_extra:\n    my_token: !secret " + NEW + "\n"
        "  master:\n    submission/inet:\n      command: smtpd\n"
        f"      options: {{smtpd_sasl_path: !secret {NEW}}}\n"
        f"dovecot:\n  settings:\n    plugin: {{mail_crypt_private_password: !secret {NEW}}}\n"))
    main = f"my_token = {OLD}\n    {OTHER}\nmyhostname = mx\n".encode()
    diff = _diff(state, "/etc/postfix/main.cf", "postfix", main,
                 main.replace(OLD.encode(), NEW.encode()))
    assert OLD not in diff and NEW not in diff and OTHER not in diff
    master = f"submission inet n - y - - smtpd\n  -o smtpd_sasl_path={OLD}\n".encode()
    diff = _diff(state, "/etc/postfix/master.cf", "postfix", master,
                 master.replace(OLD.encode(), NEW.encode()))
    assert OLD not in diff and NEW not in diff and "-o smtpd_sasl_path=" in diff
    conf = f"plugin {{\n  mail_crypt_private_password = {OLD} # c\n}}\n".encode()
    diff = _diff(state, "/etc/dovecot/conf.d/90-plugin.conf", "dovecot", conf,
                 conf.replace(OLD.encode(), NEW.encode()))
    assert OLD not in diff and NEW not in diff


def test_a_file_that_does_not_parse_is_masked_whole() -> None:
    broken = f"<?php\n$config['des_key'] = '{OLD}\n".encode()  # unterminated string
    diff = unified_diff("/etc/roundcube/config.inc.php", broken, broken + b"x\n",
                        file_secrets=FileSecrets("roundcube"))
    assert OLD not in diff and MASK in diff


def test_control_characters_of_a_live_file_are_shown_escaped() -> None:
    diff = unified_diff("/etc/postfix/main.cf", b"a = \x1b[2Jx\r\n", b"a = y\r\n")
    assert "\x1b" not in diff and "-a = \\x1b[2Jx\r\n" in diff and "+a = y\r\n" in diff


def test_same_diff_as_difflib_without_secrets() -> None:
    import difflib

    before = "".join(f"line{i} = {i}\n" for i in range(40)).encode()
    after = before.replace(b"line5 = 5", b"line5 = five").replace(b"line30 = 30\n", b"")
    ours = unified_diff("/etc/postfix/main.cf", before, after)
    theirs = "".join(difflib.unified_diff(before.decode().splitlines(True),
                                          after.decode().splitlines(True),
                                          "a/etc/postfix/main.cf", "b/etc/postfix/main.cf"))
    assert ours == theirs


def test_escaping_sees_a_lone_carriage_return_and_either_side() -> None:
    """The escape check looks at each side's whole text once: line endings (`\\n`,
    `\\r\\n`) are not control characters there, a lone `\\r` or one in the new side is."""
    crlf = unified_diff("/etc/postfix/main.cf", b"a = x\r\nb = 1\r\n", b"a = y\r\nb = 1\r\n")
    assert "\\x0d" not in crlf and "-a = x\r\n" in crlf and " b = 1\r\n" in crlf
    lone = unified_diff("/etc/postfix/main.cf", b"a = x\rz\n", b"a = y\n")
    assert "-a = x\\x0dz\n" in lone and "\r" not in lone
    new_side = unified_diff("/etc/postfix/main.cf", b"a = x\n", b"a = \x07y\n")
    assert "+a = \\x07y\n" in new_side and "\x07" not in new_side
