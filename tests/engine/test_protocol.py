"""The host protocol's typed parsers, the host scripts as sent, and line reading.

No host here: the parsers are pure, shellcheck reads the scripts exactly as they are
sent (prelude + script), and the local transport shows that a read timeout is not the
end of a command's output.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args

import pytest

from mailstate.engine.hostscripts import ScriptName, host_script
from mailstate.engine.protocol import LockHolder, Unknown
from mailstate.engine.protocol.facts import NotRegular, ThroughLink, parse_fact
from mailstate.engine.protocol.scripts import (
    After,
    CheckReport,
    Done,
    LiveDigest,
    Locked,
    ManifestEntry,
    NotBack,
    RolledBack,
    Timing,
    parse_line,
)
from mailstate.engine.savedplan import parse_saved_plan
from mailstate.transport.base import CommandTimeout
from mailstate.transport.local import LocalConnection


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("line", "event"), [
    ("T hold-staged 40", Timing("hold-staged", 40)),
    ("H - /etc/postfix/my map", LiveDigest("/etc/postfix/my map", None)),
    (f"H {'a' * 64} /etc/postfix/main.cf", LiveDigest("/etc/postfix/main.cf", "a" * 64)),
    (f"C php-include 0 {b64('php is not installed')}",
     CheckReport("php-include", 0, "php is not installed")),
    ("C postconf-n 1 ", CheckReport("postconf-n", 1, "")),
    (f"NOTBACK {b64('Read-only file system')} /etc/a b", NotBack("/etc/a b",
                                                               "Read-only file system")),
    ("AFTER ok", After(None)),
    ("AFTER port 25 is not listening", After("port 25 is not listening")),
    ("ROLLEDBACK incomplete", RolledBack(False)),
    ("DONE complete", Done(True)),
    ("M absent /etc/postfix/tls_*", ManifestEntry("/etc/postfix/tls_*", None)),
    ("C no-such-check 1 x", Unknown("C no-such-check 1 x")),
    ("T label notanumber", Unknown("T label notanumber")),
    ("garbage from a host", Unknown("garbage from a host")),
])
def test_each_line_is_one_typed_event(line: str, event: object) -> None:
    assert parse_line(line + "\n") == event


def test_the_lock_holder_is_parsed_with_spaces_in_the_owner() -> None:
    event = parse_line("LOCKED run=abc owner=alice@admin pid 42 started=2026-11-30T10:00:00Z "
                       "holder=77 ")
    assert isinstance(event, Locked)
    assert event.holder == LockHolder("abc", "alice@admin pid 42", "2026-11-30T10:00:00Z",
                                      event.holder.raw)
    assert event.holder.describe() == \
        "held by alice@admin pid 42 (run abc, since 2026-11-30T10:00:00Z)"


@pytest.mark.parametrize(("line", "event"), [
    ("N link /etc/postfix/main.cf\tmain.cf.real",
     NotRegular("/etc/postfix/main.cf", "link", "main.cf.real")),
    ("N fifo /etc/postfix/x y", NotRegular("/etc/postfix/x y", "fifo")),
    ("N weird /etc/x", Unknown("N weird /etc/x")),
    ("L /etc/dovecot/conf.d/9.conf\t/srv/9.conf",
     ThroughLink("/etc/dovecot/conf.d/9.conf", "/srv/9.conf", False)),
    ("D /etc/dovecot/conf.d\t/etc/dovecot/real", ThroughLink("/etc/dovecot/conf.d",
                                                            "/etc/dovecot/real", True)),
])
def test_facts_header_lines_are_typed(line: str, event: object) -> None:
    assert parse_fact(line) == event


def test_a_damaged_host_entry_names_the_host_and_the_field() -> None:
    document = {"format": 1, "hosts": {
        "h1": {"files": {}, "actions": []},
        "h2": {"files": {"/etc/postfix/main.cf": {"before_sha256": None,
                                                  "after_sha256": "not-a-digest"}}}}}
    saved = parse_saved_plan(document, "p.json")
    assert list(saved.hosts) == ["h1"] and saved.approved_hosts() == ["h1", "h2"]
    (problem,) = saved.damaged("h2")
    assert problem.summary.startswith("h2: the saved plan's entry for this host is damaged: "
                                      "files./etc/postfix/main.cf.after_sha256: ")
    assert problem.code == "saved-plan-damaged"


@pytest.mark.parametrize("name", get_args(ScriptName))
def test_host_scripts_as_sent_are_shellcheck_clean(name: ScriptName) -> None:
    shellcheck = Path(sys.executable).with_name("shellcheck")
    proc = subprocess.run([str(shellcheck), "-s", "sh", "-"], input=host_script(name),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_readline_tells_a_timeout_from_the_end_and_loses_nothing() -> None:
    running = LocalConnection().start("printf 'one\\ntw'; sleep 0.6; printf 'o\\n'")
    assert running.readline(timeout=5) == b"one\n"
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        running.readline(timeout=0.2)  # half a line so far: not a line, not the end
    assert time.monotonic() - started < 0.5
    assert running.readline(timeout=5) == b"two\n"
    assert running.readline(timeout=5) == b""  # the end
    assert running.wait(timeout=5).rc == 0
