"""expected_listeners / check_listeners: states in, expectations and ss findings out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mailstate.expectations import (
    ListenerExpectation,
    check_listeners,
    expected_listeners,
    parse_ss,
    postfix_service_port,
)

DATA = Path(__file__).parent / "data"


@dataclass
class FakeMaster:
    """Stands for model.MasterServiceState (fields()/options/absent, per the contract)."""

    options: dict[str, str | None] = field(default_factory=dict)
    absent: bool = False

    def fields(self) -> dict[str, str]:
        return {}


def fake_state(master: dict[str, FakeMaster] | None = None,
               main: dict[str, str | None] | None = None,
               dovecot: dict[tuple[str, ...], str | None] | None = None) -> Any:
    postfix = None
    if master is not None or main is not None:
        postfix = SimpleNamespace(master=master or {}, main_values=lambda: dict(main or {}))
    dove = SimpleNamespace(settings_flat=lambda: dict(dovecot)) if dovecot is not None else None
    return SimpleNamespace(postfix=postfix, dovecot=dove, roundcube=None)


HARDENED_DOVECOT = {
    ("service imap-login", "inet_listener imap", "port"): "0",
    ("service imap-login", "inet_listener imaps", "port"): "993",
    ("service imap-login", "inet_listener imaps", "address"): "127.0.0.1",
    ("service pop3-login", "inet_listener pop3", "port"): "0",
    ("service pop3-login", "inet_listener pop3s", "port"): "995",
}
HARDENED_MASTER = {
    "smtp/inet": FakeMaster({"smtpd_tls_security_level": "may"}),
    "submission/inet": FakeMaster({
        "syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_client_restrictions": "permit_sasl_authenticated,reject"}),
    "submissions/inet": FakeMaster({
        "smtpd_tls_wrappermode": "yes", "smtpd_sasl_auth_enable": "yes"}),
    "pickup/unix": FakeMaster(),
}


def by_port(expectations: list[ListenerExpectation]) -> dict[int, ListenerExpectation]:
    return {e.port: e for e in expectations}


def test_hardened_state_implies_the_guides_after_picture() -> None:
    exp = by_port(expected_listeners(fake_state(HARDENED_MASTER, {}, HARDENED_DOVECOT)))
    assert sorted(exp) == [25, 110, 143, 465, 587, 993, 995]
    assert exp[25] == ListenerExpectation(25, "smtp", "public", "starttls-optional", None,
                                          "postfix.master.smtp/inet")
    assert exp[587] == ListenerExpectation(587, "submission", "public", "starttls-required",
                                           "after-tls", "postfix.master.submission/inet")
    assert exp[465].tls == "implicit" and exp[465].auth == "after-tls"
    assert exp[465].service == "submissions"
    assert exp[993] == ListenerExpectation(
        993, "imaps", "localhost", "implicit", "after-tls",
        "dovecot.service imap-login/inet_listener imaps")
    assert exp[995].reach == "public" and exp[995].tls == "implicit"
    assert (exp[143].reach, exp[143].service) == ("closed", "imap")
    assert (exp[110].reach, exp[110].service) == ("closed", "pop3")


def test_only_ports_the_state_names() -> None:
    assert expected_listeners(fake_state()) == []
    only_smtp = fake_state({"smtp/inet": FakeMaster()})
    assert [(e.port, e.reach, e.tls, e.auth) for e in expected_listeners(only_smtp)] == [
        (25, "public", None, None)]


def test_absent_master_service_is_closed() -> None:
    state = fake_state({"submission/inet": FakeMaster(absent=True)})
    assert [(e.port, e.reach) for e in expected_listeners(state)] == [(587, "closed")]


def test_postfix_host_port_and_inet_interfaces() -> None:
    state = fake_state({"127.0.0.1:10025/inet": FakeMaster(), "[::1]:2525/inet": FakeMaster(),
                        "smtp/inet": FakeMaster()},
                       {"inet_interfaces": "loopback-only"})
    exp = by_port(expected_listeners(state))
    assert exp[10025].reach == exp[2525].reach == exp[25].reach == "localhost"
    state = fake_state({"smtp/inet": FakeMaster()}, {"inet_interfaces": "127.0.0.1, [::1]"})
    assert expected_listeners(state)[0].reach == "localhost"
    state = fake_state({"smtp/inet": FakeMaster()}, {"inet_interfaces": "10.0.0.1, 127.0.0.1"})
    assert expected_listeners(state)[0].reach == "public"


def test_postfix_service_names() -> None:
    assert postfix_service_port("smtp") == (25, None)
    assert postfix_service_port("submission") == (587, None)
    assert postfix_service_port("smtps") == (465, None)
    assert postfix_service_port("submissions") == (465, None)
    assert postfix_service_port("2525") == (2525, None)
    assert postfix_service_port("127.0.0.1:smtp") == (25, "127.0.0.1")
    assert postfix_service_port("[::1]:587") == (587, "::1")
    assert postfix_service_port("127.0.0.1:nosuchport") == (None, "127.0.0.1")
    assert postfix_service_port("99999") == (None, None)


def test_main_cf_settings_feed_services_without_options() -> None:
    state = fake_state({"smtp/inet": FakeMaster()},
                       {"smtpd_tls_security_level": "may", "smtpd_sasl_auth_enable": "yes",
                        "smtpd_tls_auth_only": "yes"})
    exp = expected_listeners(state)[0]
    assert (exp.tls, exp.auth) == ("starttls-optional", "after-tls")
    state = fake_state({"smtp/inet": FakeMaster({"smtpd_sasl_auth_enable": "no"})},
                       {"smtpd_sasl_auth_enable": "yes"})
    assert expected_listeners(state)[0].auth == "never"
    # AUTH enabled with optional TLS and no auth_only: the state allows AUTH before TLS,
    # so nothing is expected of it (the audit still warns).
    state = fake_state({"smtp/inet": FakeMaster({"smtpd_sasl_auth_enable": "yes"})},
                       {"smtpd_tls_security_level": "may"})
    assert expected_listeners(state)[0].auth is None


def test_dovecot_addresses_listen_and_protocols() -> None:
    listener = ("service imap-login", "inet_listener imaps")
    for address, reach in (("127.0.0.1", "localhost"), ("127.0.0.1, ::1", "localhost"),
                           ("localhost", "localhost"), ("*", "public"), ("::", "public"),
                           ("*, ::", "public"), ("10.231.3.11", "public")):
        state = fake_state(dovecot={(*listener, "address"): address})
        assert expected_listeners(state)[0].reach == reach, address
    state = fake_state(dovecot={(*listener, "ssl"): "yes", ("listen",): "127.0.0.1"})
    assert [(e.port, e.reach) for e in expected_listeners(state)] == [(993, "localhost")]
    state = fake_state(dovecot={("service imap-login", "inet_listener imap", "port"): "1143",
                                ("ssl",): "required"})
    assert [(e.port, e.service, e.tls, e.auth) for e in expected_listeners(state)] == [
        (1143, "imap", "starttls-required", "after-tls")]
    state = fake_state(dovecot={("protocols",): "imap",
                                ("service pop3-login", "inet_listener pop3s", "port"): "995"})
    assert [(e.port, e.reach) for e in expected_listeners(state)] == [(995, "closed")]


def test_parse_ss_forms() -> None:
    sockets = parse_ss((DATA / "ss-mixed-forms.txt").read_text())
    assert [(s.address, s.port, s.loopback) for s in sockets] == [
        ("127.0.0.53", 53, True), ("*", 993, False), ("::1", 995, True),
        ("fe80::1", 2222, False), ("10.231.3.11", 587, False)]


def test_check_listeners_hardened_host_matches() -> None:
    expected = expected_listeners(fake_state(HARDENED_MASTER, {}, HARDENED_DOVECOT))
    assert check_listeners(expected, (DATA / "ss-hardened.txt").read_text()) == []


def test_check_listeners_stock_host_against_hardened_state() -> None:
    expected = expected_listeners(fake_state(HARDENED_MASTER, {}, HARDENED_DOVECOT))
    found = check_listeners(expected, (DATA / "ss-stock.txt").read_text())
    assert [d.summary for d in found] == [
        "110 listens on 0.0.0.0, :: but should be closed",
        "143 listens on 0.0.0.0, :: but should be closed",
        "465 should be listening and is not",
        "587 should be listening and is not",
        "993 listens on 0.0.0.0, :: but should be localhost only",
    ]
    assert all(d.severity == "error" and d.code == "listener" for d in found)
    assert found[3].extra["source"] == "postfix.master.submission/inet"


def test_check_listeners_public_expected_but_only_loopback() -> None:
    expected = [ListenerExpectation(995, "pop3s", "public", "implicit", "after-tls", "x")]
    found = check_listeners(expected, "LISTEN 0 100 127.0.0.1:995 0.0.0.0:*\n")
    assert [d.summary for d in found] == [
        "995 listens only on 127.0.0.1 but should be reachable from outside"]


def test_shipped_hardened_profile() -> None:
    """states/hardened.yaml through the real model: the guide's "after" picture."""
    from mailstate.model.loader import load_state

    state = load_state([DATA.parents[2] / "states" / "hardened.yaml"]).state
    got = [(e.port, e.service, e.reach, e.tls, e.auth) for e in expected_listeners(state)]
    assert got == [
        (25, "smtp", "public", "starttls-optional", "never"),
        (110, "pop3", "closed", None, None),
        (143, "imap", "closed", None, None),
        (465, "submissions", "public", "implicit", "after-tls"),
        (587, "submission", "public", "starttls-required", "after-tls"),
        (993, "imaps", "localhost", "implicit", "after-tls"),
        (995, "pop3s", "public", "implicit", "after-tls"),
    ]
    assert check_listeners(expected_listeners(state),
                           (DATA / "ss-hardened.txt").read_text()) == []
