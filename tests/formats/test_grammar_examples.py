"""Each editor reads and writes its file the way the daemon's own parser does.

input -> edit -> expected bytes, for the cases of issue #16: master.cf words as
`mystrtokq` splits them and options before arguments, Roundcube keys read as PHP reads
them and statements that stay inside PHP code, Dovecot names quoted without escapes.
"""

from __future__ import annotations

import pytest

from mailstate.formats import lookup, maincf, mastercf
from mailstate.formats.dovecot import DovecotConfig, section_head, unquote
from mailstate.formats.lookup import LookupTable
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf, split_words
from mailstate.formats.roundcube import PhpConfig, literal_problem, php_literal

MAILDROP = (b"maildrop  unix  -       n       n       -       -       pipe\n"
            b"  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n")


def test_master_words_split_as_postfix_does() -> None:
    assert split_words("pipe argv=/x -d ${recipient} { a b } c}d") == [
        "pipe", "argv=/x", "-d", "${recipient}", "{ a b }", "c}d"]
    doc = MasterCf.parse(MAILDROP)
    assert doc.get("maildrop", "unix").command == (  # type: ignore[union-attr]
        "pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}")


def test_new_options_go_before_the_arguments() -> None:
    doc = MasterCf.parse(MAILDROP + b"t unix - n n - - smtpd -v foo -o ignored=1\n")
    doc.ensure("maildrop", "unix", {}, {"syslog_name": "postfix/md"})
    doc.ensure("t", "unix", {}, {"smtpd_banner": "x y"})
    assert doc.render() == (
        b"maildrop  unix  -       n       n       -       -       pipe\n"
        b"  -o syslog_name=postfix/md\n"
        b"  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n"
        b"t unix - n n - - smtpd -o { smtpd_banner = x y } -v foo -o ignored=1\n")
    service = doc.get("t", "unix")
    assert service is not None and service.options == {"smtpd_banner": "x y"}
    assert service.command == "smtpd -v foo -o ignored=1"  # after `foo`: an argument


def test_new_entry_and_new_command_keep_arguments_after_options() -> None:
    doc = MasterCf.parse(b"")
    doc.ensure("relay2", "unix", {"command": "pipe argv=/bin/x ${recipient}"},
               {"syslog_name": "postfix/r2"})
    assert doc.render() == (
        b"relay2    unix  -       -       -       -       -       pipe\n"
        b"  -o syslog_name=postfix/r2\n  argv=/bin/x ${recipient}\n")
    doc.ensure("relay2", "unix", {"command": "pipe argv=/bin/y"}, {})
    assert doc.render().endswith(b"  -o syslog_name=postfix/r2\n  argv=/bin/y\n")
    doc.ensure("relay2", "unix", {"command": "pipe argv=/bin/y"}, {})  # no-op
    assert doc.get("relay2", "unix").command == "pipe argv=/bin/y"  # type: ignore[union-attr]


@pytest.mark.parametrize(("call", "value"), [
    (lambda d, v: d.ensure("smtp", "inet", {"command": v}, {}), "smtpd\n2525 inet n - n - - smtpd"),
    (lambda d, v: d.ensure("smtp", "inet", {}, {"a": v}), "x } -o smtpd_relay_restrictions=permit"),
    (lambda d, v: d.ensure("smtp", "inet", {}, {"a": v}), "a\n  -o b=c"),
])
def test_master_editor_refuses_what_would_inject(call: object, value: str) -> None:
    doc = MasterCf.parse(b"smtp inet n - y - - smtpd\n")
    with pytest.raises(ValueError, match="expected"):
        call(doc, value)  # type: ignore[operator]
    assert doc.render() == b"smtp inet n - y - - smtpd\n"


def test_main_and_lookup_editors_refuse_what_would_inject() -> None:
    with pytest.raises(ValueError):
        MainCf.parse(b"").set("myhostname", "a\x00b")
    table = LookupTable.parse(b"a x\n")
    for key, value in (("#a", "x"), ("a b", "x"), ("k", "v\nk2 v2"), ("k", " ")):
        with pytest.raises(ValueError):
            table.set(key, value)
    assert table.render() == b"a x\n"
    assert maincf.value_problem("a\tb") is not None  # Postfix reads a tab as a space
    assert maincf.value_problem("$a ${b?$c} $$") is None and lookup.key_problem("[a]:587") is None
    assert mastercf.option_value_problem("${x} a{b}c") is None


def test_roundcube_keys_are_read_as_php_reads_them() -> None:
    doc = PhpConfig.parse(b"<?php\n$config['a\\'b'] = 1;\n$config[\"c\\\\d\"] = 2;\n"
                          b"$config[\"e$f\"] = 3;\n")
    assert doc.keys() == ["a'b", "c\\d"]
    once = doc.render()
    doc.update({"a'b": 1, "c\\d": 2})
    assert doc.render() == once  # found again: nothing appended


@pytest.mark.parametrize(("live", "expected"), [
    (b"<?php\n$config['a'] = 1;\n?>\n",
     b"<?php\n$config['a'] = 1;\n$config['k'] = 'v';\n?>\n"),
    (b"<?php\n$config['a'] = 1; ?>\n",
     b"<?php\n$config['a'] = 1;\n$config['k'] = 'v'; ?>\n"),
    (b"<?php\n$config['a'] = 1; // end ?> <b>html</b>\n",
     b"<?php\n$config['a'] = 1;\n$config['k'] = 'v'; // end ?> <b>html</b>\n"),
    (b"<?php\n// empty\n?>\n<p>footer</p>\n",
     b"<?php\n// empty\n$config['k'] = 'v';\n?>\n<p>footer</p>\n"),
])
def test_new_statements_stay_inside_php_code(live: bytes, expected: bytes) -> None:
    for edit in ("set", "update"):
        doc = PhpConfig.parse(live)
        doc.set("k", "v") if edit == "set" else doc.update({"k": "v"})
        assert doc.render() == expected


def test_php_literals_of_every_accepted_value() -> None:
    assert php_literal(1.5) == "1.5" and php_literal(-3) == "-3"
    assert literal_problem(2**63) is not None and literal_problem(float("nan")) is not None
    assert literal_problem("a\nb\tc") is None and literal_problem("\x1b") is not None


def test_dovecot_names_are_quoted_without_escapes() -> None:
    assert section_head("mailbox Sent Messages") == 'mailbox "Sent Messages"'
    assert section_head("unix_listener /var/spool/postfix/private/auth") == \
        "unix_listener /var/spool/postfix/private/auth"
    with pytest.raises(ValueError):
        section_head('mailbox a"b')
    assert unquote("'a\\b'") == "ab" and unquote('"a\\"b"') == 'a"b'


def test_dovecot_values_with_quotes_or_comments_are_quoted() -> None:
    config = DovecotConfig.load({"/d.conf": b"plugin {\n}\n"}, "/d.conf")
    config.set(("plugin", "a"), "x\"y # z")
    config.set(("plugin", "b"), "</not/a/file")  # the model decides; the editor writes it
    assert config.render("/d.conf") == (
        b'plugin {\n  a = "x\\"y # z"\n  b = </not/a/file\n}\n')
    assert config.get(("plugin", "a")) == "x\"y # z"
