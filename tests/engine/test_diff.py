"""Diffs are exact (CRLF, no final newline, non-UTF-8 bytes) and never show secrets."""

from __future__ import annotations

from mailstate.engine.diff import MASK, mask_line, unified_diff


def test_diff_shows_only_changed_line_with_context() -> None:
    before = b"a = 1\nb = 2\nc = 3\n"
    after = b"a = 1\nb = 20\nc = 3\n"
    diff = unified_diff("/etc/postfix/main.cf", before, after)
    assert diff.splitlines() == [
        "--- a/etc/postfix/main.cf",
        "+++ b/etc/postfix/main.cf",
        "@@ -1,3 +1,3 @@",
        " a = 1",
        "-b = 2",
        "+b = 20",
        " c = 3",
    ]


def test_missing_final_newline_is_marked() -> None:
    diff = unified_diff("/f", b"x = 1", b"x = 1\n")
    assert "\\ No newline at end of file" in diff
    assert diff.count("x = 1") == 2


def test_crlf_is_kept_in_the_diff() -> None:
    diff = unified_diff("/f", b"x = 1\r\n", b"x = 2\r\n")
    assert "-x = 1\r\n" in diff and "+x = 2\r\n" in diff


def test_non_utf8_bytes_do_not_break_the_diff() -> None:
    diff = unified_diff("/f", b"x = caf\xe9\n", b"x = cafe\n")
    assert "+x = cafe" in diff and "-x = caf" in diff


def test_new_file_diff_against_dev_null() -> None:
    diff = unified_diff("/etc/postfix/tls_policy", None, b"example.com may\n")
    assert diff.startswith("--- /dev/null\n+++ b/etc/postfix/tls_policy\n")


def test_roundcube_des_key_is_masked_on_both_sides() -> None:
    before = b"<?php\n$config['des_key'] = 'oldsecretvalue1234567890';\n"
    after = b"<?php\n$config['des_key'] = 'newsecretvalue1234567890';\n"
    diff = unified_diff("/etc/roundcube/config.inc.php", before, after)
    assert "oldsecret" not in diff and "newsecret" not in diff
    assert f"$config['des_key'] = {MASK};" in diff


def test_state_secrets_are_masked_anywhere_in_a_line() -> None:
    after = b"[smtp.example.com]:587 user:hunter2-secret\n"
    diff = unified_diff("/etc/postfix/sasl_passwd", None, after, secrets={"user:hunter2-secret"})
    assert "hunter2" not in diff and MASK in diff


def test_key_value_passwords_are_masked() -> None:
    assert mask_line("ssl_key_password = s3cret\n") == f"ssl_key_password = {MASK}\n"
    assert mask_line("smtpd_tls_security_level = may\n") == "smtpd_tls_security_level = may\n"
