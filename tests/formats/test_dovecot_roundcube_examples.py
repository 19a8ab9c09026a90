"""Dovecot include trees and Roundcube's PHP config: input -> edit -> expected bytes."""

from __future__ import annotations

import pytest

from mailstate.diagnostics import ParseError
from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.roundcube import PhpConfig, php_literal

from .conftest import DATA, DOVECOT_ROOT

ROOT = "/etc/dovecot/dovecot.conf"
TREE = {
    ROOT: b"!include_try /usr/share/dovecot/protocols.d/*.protocol\n"
          b"!include conf.d/*.conf\n!include_try local.conf\n",
    "/usr/share/dovecot/protocols.d/imapd.protocol": b"protocols = $protocols imap\n",
    "/etc/dovecot/conf.d/10-master.conf":
        b"service imap-login {\n  inet_listener imap {\n    #port = 143\n  }\n}\n"
        b"service auth {\n  # Postfix smtp-auth\n  #unix_listener x {\n  #}\n}\n",
    "/etc/dovecot/conf.d/10-ssl.conf": b"ssl = yes # comment\r\nssl_cert = </etc/c.pem\r\n",
}


def test_settings_resolve_across_the_include_tree() -> None:
    doc = DovecotConfig.load(TREE, ROOT)
    assert doc.files() == [ROOT, "/usr/share/dovecot/protocols.d/imapd.protocol",
                           "/etc/dovecot/conf.d/10-master.conf",
                           "/etc/dovecot/conf.d/10-ssl.conf"]
    assert doc.get(("protocols",)) == " imap"
    assert doc.get(("ssl",)) == "yes"
    assert doc.get(("ssl_cert",)) == "</etc/c.pem"
    assert doc.get(("service imap-login", "inet_listener imap", "port")) is None


def test_set_in_place_keeps_the_trailing_comment_and_crlf() -> None:
    doc = DovecotConfig.load(TREE, ROOT)
    doc.set(("ssl",), "required")
    assert doc.changed() == {
        "/etc/dovecot/conf.d/10-ssl.conf":
            b"ssl = required # comment\r\nssl_cert = </etc/c.pem\r\n"}


def test_missing_setting_goes_into_the_deepest_existing_section() -> None:
    doc = DovecotConfig.load(TREE, ROOT)
    doc.set(("service imap-login", "inet_listener imap", "port"), "0")
    doc.set(("service auth", "unix_listener /var/spool/postfix/private/auth", "mode"), "0660")
    assert doc.render("/etc/dovecot/conf.d/10-master.conf") == (
        b"service imap-login {\n  inet_listener imap {\n    #port = 143\n    port = 0\n  }\n}\n"
        b"service auth {\n  # Postfix smtp-auth\n  #unix_listener x {\n  #}\n"
        b"  unix_listener /var/spool/postfix/private/auth {\n    mode = 0660\n  }\n}\n")
    assert doc.get(("service auth", "unix_listener /var/spool/postfix/private/auth",
                    "mode")) == "0660"


def test_setting_without_any_section_is_appended_to_the_root_file() -> None:
    doc = DovecotConfig.load(TREE, ROOT)
    doc.set(("plugin", "quota", ), "maildir")
    doc.set(("login_greeting",), "Hi # there")
    assert doc.render(ROOT).endswith(
        b"!include_try local.conf\nplugin {\n  quota = maildir\n}\n"
        b'login_greeting = "Hi # there"\n')
    assert doc.get(("login_greeting",)) == "Hi # there"


def test_unset_and_no_op() -> None:
    doc = DovecotConfig.load(TREE, ROOT)
    doc.set(("ssl",), "yes")
    assert doc.changed() == {}
    doc.unset(("ssl",))
    assert doc.get(("ssl",)) is None
    assert doc.changed()["/etc/dovecot/conf.d/10-ssl.conf"] == b"ssl_cert = </etc/c.pem\r\n"


def test_named_sections_merge_and_quotes_continuations_are_understood() -> None:
    files = {ROOT: b'service "imap" {\n  a = 1\n}\nservice imap {\n  b = "x \\" y"\n}\n'
                   b"mail_location = mbox:~/mail \\\n   :INBOX=/var/mail/%u\n"}
    doc = DovecotConfig.load(files, ROOT)
    assert doc.get(("service imap", "a")) == "1"
    assert doc.get(("service imap", "b")) == 'x " y'
    assert doc.get(("mail_location",)) == "mbox:~/mail :INBOX=/var/mail/%u"


@pytest.mark.parametrize(("text", "line", "column"), [
    (b"a = 1\nservice imap {\n  port = 1\n", 4, 1),
    (b"}\n", 1, 1),
    (b"service imap { port = 1 }\n", 1, 14),
    (b"a = 1\n  just words\n", 2, 3),
    (b"!include missing.conf\n", 1, 10),
    (b"a b c {\n}\n", 1, 1),
])
def test_dovecot_parse_errors(text: bytes, line: int, column: int) -> None:
    with pytest.raises(ParseError) as err:
        DovecotConfig.load({ROOT: text}, ROOT)
    assert (err.value.file, err.value.line, err.value.column) == (ROOT, line, column)


def test_stock_tree_effective_values(stock_dovecot: dict[str, bytes]) -> None:
    doc = DovecotConfig.load(stock_dovecot, DOVECOT_ROOT)
    assert doc.get(("protocols",)) == " imap pop3"
    assert doc.get(("passdb", "driver")) == "pam"


# ---- Roundcube -------------------------------------------------------------------


def test_php_literal() -> None:
    assert php_literal("it's \\ ok") == "'it\\'s \\\\ ok'"
    assert php_literal(True) == "true" and php_literal(None) == "null"
    assert php_literal(993) == "993"
    assert php_literal(["a", 1]) == "['a', 1]"
    assert php_literal({"ssl": {"verify_peer": False}}) == "['ssl' => ['verify_peer' => false]]"


def test_set_replaces_only_the_expression_span() -> None:
    doc = PhpConfig.parse(b"<?php\n// c\n$config['imap_host'] = 'localhost:143'; // note\n"
                          b"$config['plugins'] = array(\n  'a', // x\n);\n")
    doc.set("imap_host", "ssl://127.0.0.1:993")
    doc.set("plugins", ["archive"])
    doc.set("smtp_host", "tls://127.0.0.1:587")
    assert doc.render() == (b"<?php\n// c\n$config['imap_host'] = 'ssl://127.0.0.1:993'; // note\n"
                            b"$config['plugins'] = ['archive'];\n"
                            b"$config['smtp_host'] = 'tls://127.0.0.1:587';\n")
    doc.remove("plugins")
    assert doc.keys() == ["imap_host", "smtp_host"]
    assert doc.get_source("smtp_host") == "'tls://127.0.0.1:587'"


def test_stock_like_config_is_tokenized() -> None:
    doc = PhpConfig.parse((DATA / "config.inc.php").read_bytes())
    assert doc.get_source("login_note") == (
        '<<<EOT\nWelcome; use your "mail" password ] here.\nEOT')
    assert doc.get_source("escaped") == "'it\\'s \\\\ a ; test'"
    assert doc.get_source("enable_spellcheck") == "false"
    keys = doc.keys()
    assert "include" not in keys and keys[0] == "imap_host"


@pytest.mark.parametrize(("text", "line", "column"), [
    (b"<?php\n$config['a'] = 'oops;\n", 2, 16),
    (b"<?php\n/* never closed\n", 2, 1),
    (b"<?php\n$config['a'] = [1, 2;\n", 2, 16),
    (b"<?php\n$config['a'] = (1]);\n", 2, 18),
    (b"hello\n<?php\n", 1, 1),
    (b"<?php\n$config['a'] = <<<EOT\nno end\n", 2, 16),
])
def test_php_parse_errors(text: bytes, line: int, column: int) -> None:
    with pytest.raises(ParseError) as err:
        PhpConfig.parse(text, "config.inc.php")
    assert (err.value.file, err.value.line, err.value.column) == ("config.inc.php", line, column)
