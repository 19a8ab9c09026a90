"""A Debian 12 host upgraded in place to Debian 13: 2.3-style /etc/dovecot under Dovecot 2.4.

Simulated with Debian 13's root filesystem whose /etc/dovecot is replaced by Debian 12's
stock one (this machine's), facts gathered there by the real gather script. The plan
must show how the managed settings change, name every line 2.4 refuses (checked against
what the real 2.4 doveconf refuses, line by line), and apply must change nothing.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstate.engine.apply import ApplyOptions, apply_host
from mailstate.engine.plan import FileChange, build_plan
from mailstate.inventory import HostSpec
from mailstate.lab.rootfs import overlay
from mailstate.model import load_state
from mailstate.transport.local import LocalConnection
from tests.releases.realtools import ChrootConnection, Release, gather_facts, hardened

REPO = Path(__file__).resolve().parents[2]
HARDENED = REPO / "states" / "hardened.yaml"
_ERROR = re.compile(r"Error in configuration file (\S+) line (\d+): (.*)")


@pytest.fixture
def upgraded(lab_machine: None) -> Iterator[Path]:
    """Debian 13's root filesystem with Debian 12's stock /etc/dovecot."""
    with overlay("trixie") as root:
        shutil.rmtree(root / "etc/dovecot")
        shutil.copytree("/etc/dovecot", root / "etc/dovecot", symlinks=True)
        # Roundcube's stock config, as a webmail host has (Debian 13's root ships one)
        (root / "etc/roundcube").mkdir(exist_ok=True)
        shutil.copy(REPO / "tests/formats/data/config.inc.php", root / "etc/roundcube")
        yield root


def put(root: Path, changes: list[FileChange]) -> None:
    for change in changes:
        if change.path.startswith("/etc/dovecot/"):
            (root / change.path.lstrip("/")).write_bytes(change.candidate.after)


def _block_end(lines: list[str], start: int) -> int:
    depth = 0
    for i in range(start, len(lines)):
        text = lines[i].split("#", 1)[0].strip()
        depth += text.endswith("{") - (text == "}")
        if depth == 0:
            return i
    return start


def real_refusals(root: Path) -> set[tuple[str, int]]:
    """Run Dovecot 2.4's doveconf until it accepts the tree, disabling each line it
    refuses (a refused section as a whole); line numbers are kept."""
    release, found = Release(root), set[tuple[str, int]]()
    for _ in range(200):
        result = release.run(["doveconf", "-n"])
        if result.ok:
            return found
        if "dovecot_config_version" in result.stderr or "dovecot_storage_version" in result.stderr:
            conf = root / "etc/dovecot/dovecot.conf"
            lines = conf.read_text().splitlines(keepends=True)
            first = next(i for i, line in enumerate(lines)
                         if line.strip() and not line.lstrip().startswith("#"))
            found.add(("/etc/dovecot/dovecot.conf", first + 1))
            assert first >= 2  # two comment lines to hold the version settings
            lines[0] = "dovecot_config_version = 2.4.0\n"
            lines[1] = "dovecot_storage_version = 2.4.0\n"
            conf.write_text("".join(lines))
            continue
        match = _ERROR.search(result.stderr)
        assert match, result.stderr
        file, line, message = match.group(1), int(match.group(2)), match.group(3)
        found.add((file, line))
        path = root / file.lstrip("/")
        lines = path.read_text().splitlines(keepends=True)
        end = _block_end(lines, line - 1) if "section" in message else line - 1
        for i in range(line - 1, end + 1):
            lines[i] = "#" + lines[i]
        path.write_text("".join(lines))
    raise AssertionError("doveconf kept refusing")


def test_plan_names_every_line_dovecot_24_refuses_and_shows_the_managed_changes(
        upgraded: Path) -> None:
    state = hardened(upgraded)
    facts = gather_facts(ChrootConnection(upgraded), state)
    assert facts.versions["dovecot"].startswith("1:2.4")
    plan = build_plan("upgraded", state, facts)
    # the managed settings: written the 2.4 way
    diffs = "\n".join(c.diff for c in plan.changes)
    assert "+    listen = 127.0.0.1" in diffs and "+auth_allow_cleartext = no" in diffs
    assert "address = " not in diffs.replace("#address", "")
    # every refused line, file:line, with the 2.4 name where there is one
    named = {(d.location.file, d.location.line) for d in plan.error
             if d.location and d.location.line}
    by_line = {(d.location.file, d.location.line): d.summary for d in plan.error
               if d.location and d.location.line}
    assert "ssl_server_cert_file" in by_line[("/etc/dovecot/conf.d/10-ssl.conf", 12)]
    assert "mail_driver" in by_line[("/etc/dovecot/conf.d/10-mail.conf", 30)]
    summary = [d for d in plan.error if not (d.location and d.location.line)]
    assert len(summary) == 1 and "upgrader" in summary[0].fix
    put(upgraded, plan.changes)
    assert named == real_refusals(upgraded)
    # once converted (what 2.4 accepted above), the same plan has nothing left to refuse
    converted = build_plan("upgraded", state, gather_facts(ChrootConnection(upgraded), state))
    assert converted.error == []


def test_a_converged_debian12_host_after_the_upgrade(upgraded: Path) -> None:
    """hardened applied on Debian 12, then upgraded: the 2.3 spellings it wrote turn
    into the 2.4 ones in place."""
    state = hardened(upgraded)
    local = gather_facts(LocalConnection(), state)
    for change in build_plan("d12", state, local).changes:
        if change.path.startswith("/etc/dovecot/"):
            (upgraded / change.path.lstrip("/")).write_bytes(change.candidate.after)
    plan = build_plan("upgraded", state, gather_facts(ChrootConnection(upgraded), state))
    diffs = "\n".join(c.diff for c in plan.changes)
    for line in ("-    address = 127.0.0.1", "+    listen = 127.0.0.1",
                 "-disable_plaintext_auth = yes", "+auth_allow_cleartext = no"):
        assert line in diffs
    assert plan.error  # the unmanaged 2.3 lines are still there


def test_apply_changes_nothing_on_such_a_host(upgraded: Path) -> None:
    state = hardened(upgraded)

    def digest() -> str:
        h = hashlib.sha256()
        for path in sorted((upgraded / "etc").rglob("*")):
            if path.is_file() and not path.is_symlink():
                h.update(str(path).encode() + path.read_bytes())
        return h.hexdigest()

    before = digest()
    conn = ChrootConnection(upgraded, "upgraded")
    result = apply_host(HostSpec("upgraded", "sim"), state, conn, ApplyOptions())
    assert result.status == "failed" and conn.round_trips == 1  # facts only, no hold
    assert any(m.code == "dovecot-2.3-config" for m in result.messages)
    assert digest() == before
    assert not (upgraded / "var/lib/mailstate").exists()


@pytest.mark.parametrize(("package", "version", "words"), [
    ("dovecot-core", "1:2.2.36.4-1+deb10u1", "Dovecot 1:2.2.36.4-1+deb10u1 is not a version"),
    ("postfix", "2.11.3-1+deb8u2", "Postfix 2.11.3-1+deb8u2 is not a version")])
def test_an_unsupported_version_is_refused_at_plan_time(
        package: str, version: str, words: str, lab_machine: None) -> None:
    """The host's own dpkg database says Dovecot 2.2 (or Postfix 2.11): the plan of that
    host is refused by name, nothing is guessed, no traceback."""
    from mailstate.engine.plan import plan_host

    state = load_state([HARDENED]).state  # refused before any certificate is looked at
    with overlay("trixie") as root:
        status = root / "var/lib/dpkg/status"
        text = status.read_text()
        start = text.index(f"Package: {package}\n")
        line = text.index("\nVersion: ", start) + 1
        end = text.index("\n", line)
        status.write_text(text[:line] + f"Version: {version}" + text[end:])
        (root / "etc/roundcube").mkdir(exist_ok=True)
        shutil.copy(REPO / "tests/formats/data/config.inc.php", root / "etc/roundcube")
        plan = plan_host(HostSpec("old", "sim"), state, ChrootConnection(root, "old"))
    assert plan.changes == [] and len(plan.error) == 1
    assert words in plan.error[0].summary and plan.error[0].code == "unsupported-version"
    assert "Debian 13 (Postfix 3.10, Dovecot 2.4)" in plan.error[0].fix
