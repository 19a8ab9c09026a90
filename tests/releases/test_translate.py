"""One state, either spelling, written the way each Dovecot series understands it."""

from __future__ import annotations

from mailstate.releases.dovecot_renames import ENTRIES
from mailstate.releases.dovecot_translate import translate
from mailstate.releases.dovecot_values import join_location, split_location

LISTENER = ("service imap-login", "inet_listener imaps")


def written(settings: dict[tuple[str, ...], str | None], series: str
            ) -> dict[tuple[str, ...], str | None]:
    result = translate(settings, series)
    assert [p for p in result.problems if p.severity == "error"] == []
    return result.settings


def test_hardened_dovecot_settings_on_24_use_the_24_names_and_drop_the_23_ones() -> None:
    out = written({(*LISTENER, "address"): "127.0.0.1", (*LISTENER, "port"): "993",
                   ("disable_plaintext_auth",): "yes", ("ssl",): "required"}, "2.4")
    assert out == {(*LISTENER, "listen"): "127.0.0.1", (*LISTENER, "address"): None,
                   (*LISTENER, "port"): "993", ("auth_allow_cleartext",): "no",
                   ("disable_plaintext_auth",): None, ("ssl",): "required"}


def test_a_state_in_24_spelling_is_written_the_23_way_for_23_hosts() -> None:
    out = written({(*LISTENER, "listen"): "127.0.0.1", ("auth_allow_cleartext",): "no",
                   ("ssl_server_cert_file",): "/etc/ssl/mail.pem",
                   ("ssl_server_prefer_ciphers",): "client",
                   ("service imap", "restart_request_count"): "unlimited"}, "2.3")
    assert {p: v for p, v in out.items() if v is not None} == {
        (*LISTENER, "address"): "127.0.0.1", ("disable_plaintext_auth",): "yes",
        ("ssl_cert",): "</etc/ssl/mail.pem", ("ssl_prefer_server_ciphers",): "no",
        ("service imap", "service_count"): "0"}


def test_global_names_are_not_renamed_inside_other_sections() -> None:
    # `listen` at the top level is a global setting in both versions
    assert written({("listen",): "*"}, "2.3") == {("listen",): "*"}
    # `ssl_cert` inside a local_name filter (SNI) is still the global setting
    out = written({("local_name mail.example.com", "ssl_cert"): "</etc/ssl/m.pem"}, "2.4")
    assert out[("local_name mail.example.com", "ssl_server_cert_file")] == "/etc/ssl/m.pem"


def test_a_removal_removes_both_spellings() -> None:
    assert written({("disable_plaintext_auth",): None}, "2.4") == {
        ("auth_allow_cleartext",): None, ("disable_plaintext_auth",): None}


def test_both_spellings_with_different_values_are_refused() -> None:
    result = translate({("disable_plaintext_auth",): "yes",
                        ("auth_allow_cleartext",): "yes"}, "2.4")
    assert any("same Dovecot setting" in p.message for p in result.problems)
    agreeing = translate({("disable_plaintext_auth",): "yes",
                          ("auth_allow_cleartext",): "no"}, "2.4")
    assert agreeing.problems == []


def test_changed_and_removed_settings_are_refused_for_24_with_the_name_to_use() -> None:
    result = translate({("verbose_ssl",): "yes", ("login_access_sockets",): "tcpwrap",
                        ("passdb", "driver"): "pam", ("passdb", "args"): "dovecot"}, "2.4")
    messages = {p.path: p for p in result.problems if p.severity == "error"}
    assert set(messages) == {("verbose_ssl",), ("login_access_sockets",), ("passdb", "args")}
    assert "log_debug" in messages[("verbose_ssl",)].fix
    assert "TCP wrappers" in messages[("login_access_sockets",)].message
    assert "passdb_pam_service_name" in messages[("passdb", "args")].message
    # Dovecot 2.3 hosts take them as they are
    assert translate({("verbose_ssl",): "yes"}, "2.3").problems == []


def test_a_value_without_an_equivalent_is_refused_with_the_reason() -> None:
    result = translate({("ssl_cert",): "/etc/ssl/mail.pem"}, "2.4")  # no '<': inline PEM
    assert len(result.problems) == 1 and "reads only files" in result.problems[0].message


def test_unnamed_passdb_is_named_after_its_driver_and_plugin_settings_become_global() -> None:
    out = written({("passdb", "driver"): "pam", ("plugin", "mail_log_fields"): "uid box"},
                  "2.4")
    assert out == {("passdb pam", "driver"): "pam", ("mail_log_fields",): "uid box"}
    no_driver = translate({("userdb", "skip"): "never"}, "2.4")
    assert "needs a name" in no_driver.problems[0].message


def test_a_named_passdb_gets_its_driver_for_23() -> None:
    assert written({("passdb pam", "skip"): "never"}, "2.3") == {
        ("passdb pam", "skip"): "never", ("passdb pam", "driver"): "pam"}


def test_mail_location_splits_for_24_and_joins_for_23() -> None:
    location = "maildir:/var/vmail/%d/%n/Maildir:INDEX=/var/idx/%u:LAYOUT=fs:UTF-8"
    parts = split_location(location)
    assert parts == {"mail_driver": "maildir",
                     "mail_path": "/var/vmail/%{user | domain}/%{user | username}/Maildir",
                     "mail_index_path": "/var/idx/%{user}", "mailbox_list_layout": "fs",
                     "mailbox_list_utf8": "yes"}
    assert join_location(parts) == location
    out = written({("mail_location",): "mbox:~/mail:INBOX=/var/mail/%u"}, "2.4")
    assert {p: v for p, v in out.items() if v is not None} == {
        ("mail_driver",): "mbox", ("mail_path",): "~/mail",
        ("mail_inbox_path",): "/var/mail/%{user}"}
    assert out[("mail_location",)] is None
    back = written({("mail_driver",): "mbox", ("mail_path",): "~/mail",
                    ("mail_inbox_path",): "/var/mail/%{user}"}, "2.3")
    assert {p: v for p, v in back.items() if v is not None} == {
        ("mail_location",): "mbox:~/mail:INBOX=/var/mail/%u"}


def test_mail_location_parts_without_a_translation_are_refused() -> None:
    for value in ("maildir:~/Maildir:FULLDIRNAME=x", "maildir:/m/%2.1u", "nonsense"):
        result = translate({("mail_location",): value}, "2.4")
        assert result.problems and result.problems[0].severity == "error", value


def test_obsolete_protocol_names_mean_imap_and_pop3() -> None:
    assert written({("protocols",): "imaps pop3s lmtp"}, "2.4") == {
        ("protocols",): "imap pop3 lmtp"}


def test_settings_the_version_does_not_know_are_named() -> None:
    gone = translate({("old_stats_memory_limit",): "16M"}, "2.4").problems
    assert gone[0].severity == "error" and "gone in 2.4" in gone[0].message
    new = translate({("auth_internal_failure_delay",): "2s"}, "2.3").problems
    assert new[0].severity == "warning" and "new in 2.4" in new[0].message
    typo = translate({("ssl_min_protocl",): "TLSv1.2"}, "2.4").problems
    assert typo[0].severity == "warning" and "does not list" in typo[0].message


def test_the_table_is_well_formed() -> None:
    olds = [e.old for e in ENTRIES]
    assert len(olds) == len(set(olds))
    for entry in ENTRIES:
        assert entry.note and entry.example[0], entry
        assert entry.example[0][-1] == entry.old_name or entry.kind == "section", entry
        assert entry.new or entry.kind == "removed", entry


def test_expected_listeners_read_either_spelling() -> None:
    """apply's verify step and audit judge a state in 2.4 spelling like one in 2.3's."""
    from mailstate.expectations import expected_listeners
    from mailstate.model import MailState

    def imaps(settings: dict[str, object]) -> tuple[str, str | None]:
        state = MailState.model_validate({"dovecot": {"settings": settings}})
        found = [e for e in expected_listeners(state) if e.port == 993]
        return found[0].reach, found[0].auth

    old = imaps({"service imap-login": {"inet_listener imaps": {"address": "127.0.0.1"}},
                 "disable_plaintext_auth": "yes"})
    new = imaps({"service imap-login": {"inet_listener imaps": {"listen": "127.0.0.1"}},
                 "auth_allow_cleartext": "no"})
    assert old == new == ("localhost", "after-tls")


def test_adding_to_protocols_is_spelled_per_version() -> None:
    refused = translate({("protocols",): "$protocols imap"}, "2.4").problems
    assert refused and "protocols: {imap: yes}" in refused[0].message
    assert written({("protocols", "lmtp"): "yes"}, "2.4") == {("protocols", "lmtp"): "yes"}
    block = translate({("protocols", "lmtp"): "yes"}, "2.3").problems
    assert block and "no protocols list block" in block[0].message
