"""The preflight message names the exact apt-get command (no root needed to test it)."""

from __future__ import annotations

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
    assert preflight.apt_command(["b", "a", "b"]).endswith("apt-get install -y a b")


def test_not_root_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    message = preflight.check_message()
    assert message is not None
    assert "needs root" in message and message.count("error") == 1
