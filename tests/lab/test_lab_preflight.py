"""The preflight message names the exact apt-get command (no root needed to test it)."""

from __future__ import annotations

import re

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.lab import preflight


def test_missing_package_gives_the_exact_apt_command() -> None:
    with pytest.raises(MailstateError) as caught:
        preflight.check({"/nonexistent/bin/frobd": "frob-server"})
    [diag] = caught.value.diagnostics
    assert "frob-server" in diag.summary
    assert "DEBIAN_FRONTEND=noninteractive apt-get install -y" in diag.fix
    assert diag.fix.splitlines()[-2].endswith(" frob-server")


def test_apt_command_is_sorted_and_unique() -> None:
    assert preflight.apt_command(["b", "a", "b"]).endswith(
        "apt-get install -y --no-install-recommends a b")


def test_roundcube_comes_with_a_cgi_sapi_and_the_debconf_answers() -> None:
    """Without recommends and with php8.x-cgi, apt does not pull Apache in for Roundcube;
    the preseed file answers dbconfig-common (SQLite) and Postfix's questions."""
    command = preflight.apt_command(["roundcube-core"])
    assert command.startswith(f"debconf-set-selections {preflight.PRESEED} && ")
    words = command.split()
    assert "roundcube-core" in words and preflight.php_cgi_package() in words
    assert re.fullmatch(r"php\d+\.\d+-cgi", preflight.php_cgi_package())  # versioned
    answers = preflight.PRESEED.read_text()
    assert "roundcube/database-type select sqlite3" in answers
    assert "postfix/main_mailer_type select Internet Site" in answers


def test_not_root_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    message = preflight.check_message()
    assert message is not None
    assert "needs root" in message and message.count("error") == 1
