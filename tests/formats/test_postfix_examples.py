"""main.cf, master.cf and lookup tables: input -> edit -> expected bytes."""

from __future__ import annotations

import pytest

from mailstate.diagnostics import ParseError
from mailstate.formats.lookup import LookupTable
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf, MasterService

from .conftest import read

# ---- main.cf ---------------------------------------------------------------------


def test_set_edits_the_effective_definition_in_place_and_warns_about_duplicates() -> None:
    doc = MainCf.parse(b"# tls\nsmtpd_tls_security_level = none\nbiff = no\n"
                       b"smtpd_tls_security_level=encrypt\n")
    warnings = doc.set("smtpd_tls_security_level", "may")
    assert doc.render() == (b"# tls\nsmtpd_tls_security_level = none\nbiff = no\n"
                            b"smtpd_tls_security_level=may\n")
    assert [(w.severity, w.location.line) for w in warnings if w.location] == [("warning", 2)]
    assert doc.get("smtpd_tls_security_level") == "may"


def test_set_replaces_continuation_lines() -> None:
    doc = MainCf.parse(b"mynetworks = 127.0.0.0/8\n    [::1]/128\n# end\n")
    assert doc.get("mynetworks") == "127.0.0.0/8 [::1]/128"
    doc.set("mynetworks", "10.0.0.0/8")
    assert doc.render() == b"mynetworks = 10.0.0.0/8\n# end\n"


def test_crlf_and_missing_final_newline_are_kept() -> None:
    doc = MainCf.parse(b"a = 1\r\nb = 2")
    doc.set("b", "3")
    assert doc.render() == b"a = 1\r\nb = 3"
    doc.set("c", "4")
    assert doc.render() == b"a = 1\r\nb = 3\r\nc = 4"


def test_unset_removes_every_definition() -> None:
    doc = MainCf.parse(b"a = 1\nb = 2\na = 3\n  more\n")
    doc.unset("a")
    assert doc.render() == b"b = 2\n"
    assert doc.get("a") is None and doc.line_of("b") == 1


def test_no_op_set_keeps_bytes_even_for_multi_line_values() -> None:
    data = b"x = a\n  b\n"
    doc = MainCf.parse(data)
    doc.set("x", "a b")
    assert doc.render() == data


def test_non_utf8_bytes_survive() -> None:
    data = b"# caf\xe9\nmyhostname = h\xff\n"
    doc = MainCf.parse(data)
    doc.set("biff", "no")
    assert doc.render() == data + b"biff = no\n"


@pytest.mark.parametrize(("data", "line", "column"), [
    (b"a = 1\nfoo\n", 2, 4),
    (b"a = 1\n= 2\n", 2, 1),
    (b"# ok\nmy name = x\n", 2, 1),
])
def test_main_cf_parse_errors_name_file_line_column(data: bytes, line: int, column: int) -> None:
    with pytest.raises(ParseError) as err:
        MainCf.parse(data, "/etc/postfix/main.cf")
    assert (err.value.file, err.value.line, err.value.column) == (
        "/etc/postfix/main.cf", line, column)
    assert err.value.expected and err.value.found


# ---- master.cf -------------------------------------------------------------------

DEBIAN_SUBMISSION = b"""\
smtp      inet  n       -       y       -       -       smtpd
# Choose one: enable submission for loopback clients only, or for any client.
#127.0.0.1:submission inet n -   y       -       -       smtpd
#submission inet n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submission
#  -o smtpd_tls_security_level=encrypt
#     Instead of specifying complex smtpd_<xxx>_restrictions here,
#  -o smtpd_client_restrictions=
# Choose one: enable submissions for loopback clients only, or for any client.
pickup    unix  n       -       y       60      1       pickup
"""


def test_enabling_debian_submission_replaces_the_commented_block_in_place() -> None:
    doc = MasterCf.parse(DEBIAN_SUBMISSION)
    doc.ensure("submission", "inet",
               {"private": "n", "chroot": "y", "command": "smtpd"},
               {"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
                "smtpd_client_restrictions": "permit_sasl_authenticated, reject"})
    assert doc.render() == b"""\
smtp      inet  n       -       y       -       -       smtpd
# Choose one: enable submission for loopback clients only, or for any client.
#127.0.0.1:submission inet n -   y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
# Choose one: enable submissions for loopback clients only, or for any client.
pickup    unix  n       -       y       60      1       pickup
"""
    assert doc.get("submission", "inet") == MasterService(
        "submission", "inet", "n", "-", "y", "-", "-", "smtpd",
        {"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
         "smtpd_client_restrictions": "permit_sasl_authenticated, reject"})


def test_stock_master_cf_gets_one_submission_entry() -> None:
    doc = MasterCf.parse(read("/etc/postfix/master.cf"))
    doc.ensure("submission", "inet", {"command": "smtpd"}, {"syslog_name": "x"})
    doc.ensure("submission", "inet", {"command": "smtpd"}, {"syslog_name": "x"})
    text = doc.render()
    assert text.count(b"\nsubmission ") == 1
    assert b"#submission " not in text and b"#submissions " in text


def test_options_are_edited_in_place_added_after_the_last_and_removed() -> None:
    doc = MasterCf.parse(b"smtp inet n - y - - smtpd\n  -o a=1\n  -o b=2\n# tail\n"
                         b"pickup unix n - y 60 1 pickup\n")
    doc.ensure("smtp", "inet", {"maxproc": "50"}, {"b": "3", "c": "x y", "a": None})
    assert doc.render() == (b"smtp inet n - y - 50 smtpd\n  -o b=3\n  -o { c = x y }\n"
                            b"# tail\npickup unix n - y 60 1 pickup\n")


def test_new_entry_is_appended_with_debian_columns_and_keeps_missing_final_newline() -> None:
    doc = MasterCf.parse(b"smtp inet n - y - - smtpd")
    doc.ensure("submissions", "inet", {"command": "smtpd"}, {"smtpd_tls_wrappermode": "yes"})
    assert doc.render() == (b"smtp inet n - y - - smtpd\n"
                            b"submissions inet -      -       -       -       -       smtpd\n"
                            b"  -o smtpd_tls_wrappermode=yes")


def test_command_arguments_and_braced_options_are_parsed() -> None:
    doc = MasterCf.parse(b"relay unix - - y - - smtp -v\n"
                         b"  -o { smtp_helo_timeout = 5 } -o smtp_x=1\n")
    service = doc.get("relay", "unix")
    assert service is not None
    assert service.command == "smtp -v"
    assert service.options == {"smtp_helo_timeout": "5", "smtp_x": "1"}
    doc.ensure("relay", "unix", {}, {"smtp_helo_timeout": "6"})
    assert doc.render() == (b"relay unix - - y - - smtp -v\n"
                            b"  -o { smtp_helo_timeout = 6 } -o smtp_x=1\n")


def test_remove_deletes_the_entry_and_its_continuation_lines() -> None:
    doc = MasterCf.parse(b"a unix - - y - - x\n  -o k=v\nb unix - - y - - y\n")
    doc.remove("a", "unix")
    assert doc.render() == b"b unix - - y - - y\n"


@pytest.mark.parametrize(("data", "line", "column"), [
    (b"smtp inet n - y - -\n", 1, 20),
    (b"smtp inet n - y - - smtpd -o\n", 1, 29),
    (b"smtp inet n - y - - smtpd\n  -o novalue\n", 2, 6),
    (b"smtp inet n - y - - smtpd\n  -o { a = b\n", 2, 6),
])
def test_master_cf_parse_errors(data: bytes, line: int, column: int) -> None:
    with pytest.raises(ParseError) as err:
        MasterCf.parse(data, "master.cf")
    assert (err.value.file, err.value.line, err.value.column) == ("master.cf", line, column)


# ---- lookup tables -------------------------------------------------------------


def test_lookup_keys_are_case_insensitive_and_first_wins() -> None:
    doc = LookupTable.parse(b"# policy\nExample.COM\tencrypt\nexample.com none\n")
    assert doc.get("example.com") == "encrypt"
    doc.set("EXAMPLE.com", "secure")
    assert doc.render() == b"# policy\nExample.COM\tsecure\nexample.com none\n"
    doc.remove("example.com")
    assert doc.render() == b"# policy\n"
    doc.set("[mx.example.net]:25", "dane")
    assert doc.render() == b"# policy\n[mx.example.net]:25 dane\n"


def test_lookup_continuation_lines_and_from_entries() -> None:
    doc = LookupTable.parse(b"a b\n  c\n")
    assert doc.entries() == {"a": "b  c"}
    owned = LookupTable.from_entries({"example.com": "encrypt", ".example.com": "may"},
                                     header="# managed by mailstate")
    assert owned.render() == b"# managed by mailstate\nexample.com encrypt\n.example.com may\n"


@pytest.mark.parametrize(("data", "line", "column"), [
    (b"a b\nlonely\n", 2, 7),
    (b"k v\r\nonly\r\n", 2, 5),
])
def test_lookup_parse_errors(data: bytes, line: int, column: int) -> None:
    with pytest.raises(ParseError) as err:
        LookupTable.parse(data, "/etc/postfix/tls_policy")
    assert (err.value.file, err.value.line, err.value.column) == (
        "/etc/postfix/tls_policy", line, column)
