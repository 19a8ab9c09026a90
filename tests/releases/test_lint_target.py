"""`mailstate lint --target`: a state checked against a release without SSH (real CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import mailstate

STATE = """\
postfix:
  main:
    smtp_tlsrpt_enable: yes
    dovecot_destination_recipient_limit: 1
  master:
    dovecot/unix:
      unpriv: n
      chroot: n
      command: pipe flags=DRhu user=vmail argv=/usr/lib/dovecot/deliver -d ${recipient}
dovecot:
  settings:
    verbose_ssl: yes
    ssl_server_cert_file: /etc/ssl/mail.pem
"""


@pytest.mark.parametrize("target", ["debian12", "debian13", "postfix=3.10,dovecot=2.4"])
def test_the_hardened_profile_is_clean_for_every_release(target: str) -> None:
    run = mailstate("lint", "states/hardened.yaml", "--target", target, "--json")
    assert run.code == 0, run.stdout + run.stderr
    findings = run.json()["targets"][0]["findings"]
    # only the host's own name is missing, which an inventory gives (mail_hostname)
    assert [f["code"] for f in findings if f["severity"] != "info"] == ["mail-hostname-unset"]


def test_each_release_refuses_what_it_lacks_with_file_line_and_the_right_name(
        tmp_path: Path) -> None:
    state = tmp_path / "site.yaml"
    state.write_text(STATE)
    d12 = mailstate("lint", str(state), "--target", "debian12")
    assert d12.code == 1
    assert f"{state}:3:25: error [release-postfix-parameter]: postfix.main." \
        "smtp_tlsrpt_enable: Postfix 3.7 has no parameter" in d12.stdout
    assert "new in Postfix 3.10" in d12.stdout
    assert f"{state}:13:27: info [release-dovecot-written-as]: ssl_server_cert_file is " \
        "written as ssl_cert for Dovecot 2.3" in d12.stdout
    assert "verbose_ssl" not in d12.stdout  # 2.3 has it
    d13 = mailstate("lint", str(state), "--target", "debian13", "--json")
    assert d13.code == 1
    errors = [f for f in d13.json()["targets"][0]["findings"] if f["severity"] == "error"]
    assert [(f["code"], f["location"]["line"]) for f in errors] == [
        ("release-dovecot-setting", 12)]
    assert "log_debug" in errors[0]["fix"]


def test_per_service_parameters_are_judged_against_the_release_master_cf(
        tmp_path: Path) -> None:
    state = tmp_path / "bare.yaml"
    state.write_text("postfix:\n  main:\n    relay_destination_rate_delay: 1s\n"
                     "    mailman_destination_recipient_limit: 1\n")
    run = mailstate("lint", str(state), "--target", "debian13", "--json")
    findings = run.json()["targets"][0]["findings"]
    # Debian 13's stock master.cf has relay (smtp) but no longer mailman
    assert [(f["location"]["line"], f["code"]) for f in findings] == [
        (4, "release-postfix-parameter")]
    assert "master.cf has no service mailman" in findings[0]["summary"]
    d12 = mailstate("lint", str(state), "--target", "debian12")
    assert d12.code == 0, d12.stdout


@pytest.mark.parametrize(("target", "words"), [
    ("dovecot=2.2", "Dovecot 2.2 is not a version mailstate supports"),
    ("debian11", "expected a release or program versions")])
def test_an_unsupported_target_is_refused(target: str, words: str) -> None:
    run = mailstate("lint", "states/hardened.yaml", "--target", target)
    assert run.code == 1 and words in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_json_names_the_state_path() -> None:
    run = mailstate("lint", "states/hardened.yaml", "--target", "debian13", "--json")
    notes = run.json()["targets"][0]["findings"]
    assert {n["code"] for n in notes} == {"release-dovecot-written-as", "mail-hostname-unset"}
    assert json.dumps(notes).count("auth_allow_cleartext") >= 1
