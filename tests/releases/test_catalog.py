"""Which versions mailstate supports, read from real dpkg version strings."""

from __future__ import annotations

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.releases.catalog import RELEASES, host_target, parse_target, series_of

DEBIAN12 = {"postfix": "3.7.11-0+deb12u1", "dovecot": "1:2.3.19.1+dfsg1-2.1+deb12u7"}
DEBIAN13 = {"postfix": "3.10.13-0+deb13u1", "dovecot": "1:2.4.1+dfsg1-6+deb13u7"}


@pytest.mark.parametrize(("version", "series"), [
    ("3.7.11-0+deb12u1", "3.7"), ("3.10.13-0+deb13u1", "3.10"),
    ("1:2.3.19.1+dfsg1-2.1+deb12u7", "2.3"), ("1:2.4.1+dfsg1-6+deb13u7", "2.4"),
    ("2.3.19.1 (9b53102964)", "2.3"), ("3.10.13", "3.10"), ("", None), ("unknown", None),
])
def test_series_of_dpkg_and_tool_versions(version: str, series: str | None) -> None:
    assert series_of(version) == series


def test_each_supported_release_is_recognised_by_its_package_versions() -> None:
    assert host_target(DEBIAN12, True, True) == RELEASES["bookworm"]
    assert host_target(DEBIAN13, True, True) == RELEASES["trixie"]
    mixed = host_target({**DEBIAN12, "dovecot": DEBIAN13["dovecot"]}, True, True)
    assert (mixed.postfix, mixed.dovecot, mixed.name) == ("3.7", "2.4", "")


@pytest.mark.parametrize(("versions", "words"), [
    ({**DEBIAN12, "dovecot": "1:2.2.36.4-1"}, ["Dovecot 1:2.2.36.4-1", "2.3, 2.4"]),
    ({**DEBIAN12, "postfix": "2.11.3-1+deb8u2"}, ["Postfix 2.11.3-1+deb8u2", "3.7, 3.10"]),
    ({**DEBIAN12, "postfix": "3.8.5-1~bpo12+1"}, ["Postfix 3.8.5-1~bpo12+1"]),
    ({"postfix": DEBIAN12["postfix"]}, ["Dovecot version is unknown", "dovecot-core"]),
    ({**DEBIAN12, "dovecot": "garbage"}, ["Dovecot version 'garbage'"]),
])
def test_unknown_or_unsupported_versions_are_refused_by_name(
        versions: dict[str, str], words: list[str]) -> None:
    with pytest.raises(MailstateError) as caught:
        host_target(versions, True, True, host="mx1")
    diag = caught.value.diagnostics[0]
    assert diag.code == "unsupported-version" and diag.summary.startswith("mx1: ")
    for word in words:
        assert word in diag.summary + diag.detail + diag.fix
    assert "Debian 12 (Postfix 3.7, Dovecot 2.3)" in diag.fix


def test_a_program_the_state_does_not_manage_is_not_judged() -> None:
    target = host_target({"postfix": DEBIAN13["postfix"], "dovecot": "2.2.9"}, True, False)
    assert (target.postfix, target.dovecot, target.name) == ("3.10", None, "Debian 13")


@pytest.mark.parametrize(("spec", "postfix", "dovecot"), [
    ("debian13", "3.10", "2.4"), ("trixie", "3.10", "2.4"), ("12", "3.7", "2.3"),
    ("postfix=3.10,dovecot=2.4", "3.10", "2.4"), ("dovecot=2.3", None, "2.3"),
    ("postfix=3.7.11", "3.7", None),
])
def test_lint_targets(spec: str, postfix: str | None, dovecot: str | None) -> None:
    target = parse_target(spec)
    assert (target.postfix, target.dovecot) == (postfix, dovecot)


@pytest.mark.parametrize("spec", ["debian11", "postfix", "postfix=3.7,postfix=3.10",
                                  "exim=4", "dovecot=2.2", ""])
def test_bad_lint_targets_are_refused(spec: str) -> None:
    with pytest.raises(MailstateError) as caught:
        parse_target(spec)
    assert caught.value.diagnostics[0].code in ("bad-target", "unsupported-version")
