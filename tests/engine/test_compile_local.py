"""compile + plan against this machine's own stock Debian files (read only, no SSH).

The facts come from the real one-exec gatherer run locally, so these tests see exactly
the bytes Debian ships; they prove idempotence and the package-file guard quickly.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.engine.compile import compile_host, facts_request
from mailstate.engine.facts import Facts, RemoteFile, gather
from mailstate.engine.plan import build_plan
from mailstate.model import load_state
from mailstate.transport.local import LocalConnection

REPO = Path(__file__).resolve().parents[2]
ROUNDCUBE_STOCK = REPO / "tests" / "formats" / "data" / "config.inc.php"


def local_facts(state_paths: list[Path]) -> tuple[object, Facts]:
    state = load_state(state_paths).state
    conn = LocalConnection()
    facts = gather(conn, facts_request(state))
    assert conn.round_trips == 1
    rc = state.roundcube.path if state.roundcube else None
    if rc and rc not in facts.files:  # this machine has no Roundcube: use the stock copy
        facts.files[rc] = RemoteFile(rc, ROUNDCUBE_STOCK.read_bytes(), 0o640, "root", "www-data")
    return state, facts


def converged(facts: Facts, plan_changes: list) -> Facts:  # type: ignore[type-arg]
    files = dict(facts.files)
    for change in plan_changes:
        before = files.get(change.path)
        files[change.path] = RemoteFile(change.path, change.candidate.after,
                                        before.mode if before else 0o644, "root", "root")
    mtimes = {p: 2**31 for p in facts.mtimes} | {
        p + ".db": 2**31 for p in files if p.endswith("tls_policy")}
    return replace(facts, files=files, mtimes=mtimes)


def test_hardened_on_stock_files_then_nothing_left() -> None:
    state, facts = local_facts([REPO / "states" / "hardened.yaml"])
    plan = build_plan("local", state, facts)  # type: ignore[arg-type]
    paths = {c.path for c in plan.changes}
    assert {"/etc/postfix/master.cf", "/etc/dovecot/conf.d/10-master.conf",
            "/etc/postfix/tls_policy"} <= paths
    assert {a.describe() for a in plan.actions} == {
        "postmap hash:/etc/postfix/tls_policy", "reload postfix", "reload dovecot"}
    again = build_plan("local", state, converged(facts, plan.changes))  # type: ignore[arg-type]
    assert again.changes == [] and again.actions == []


def test_only_managed_lines_change_in_main_cf() -> None:
    state, facts = local_facts([REPO / "states" / "hardened.yaml"])
    plan = build_plan("local", state, facts)  # type: ignore[arg-type]
    main = next(c for c in plan.changes if c.path == "/etc/postfix/main.cf")
    before = facts.files["/etc/postfix/main.cf"].data.splitlines()
    after = main.candidate.after.splitlines()
    assert after[:len(before)] == before  # every stock line kept, in order, byte for byte
    assert all(b"=" in line for line in after[len(before):])


def test_setting_a_value_defined_in_a_package_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "protocols.yaml"
    path.write_text("dovecot:\n  settings:\n    protocols: imap\n")
    state, facts = local_facts([path])
    with pytest.raises(MailstateError) as caught:
        compile_host(state, facts)  # type: ignore[arg-type]
    assert "package file" in str(caught.value)
    assert "/usr/share/dovecot/protocols.d/" in str(caught.value)


def test_paramiko_invoke_import_is_deferred_until_used() -> None:
    """Importing the SSH transport does not execute invoke (~50 ms); first use does."""
    code = ("import sys, mailstate.transport.ssh, paramiko.config as c\n"
            "assert 'invoke.tasks' not in sys.modules, 'invoke was imported eagerly'\n"
            "assert c.invoke.run('true', hide='stdout', warn=True).ok\n"
            "assert 'invoke.tasks' in sys.modules\n")
    # a submodule import through the stand-in loads the real package
    code_submodule = ("import sys, mailstate.transport.ssh\n"
                      "import invoke.collection\n"
                      "assert invoke.collection.Collection\n")
    for source in (code, code_submodule):
        proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                              timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("path", "broken", "state"), [
    ("/etc/dovecot/conf.d/10-auth.conf", b"passdb {\n  args password=Hunter2Secret\n}\n",
     "dovecot:\n  settings:\n    ssl: required\n"),
    ("/etc/roundcube/config.inc.php",
     b"<?php\n$config['des_key'] = 'Hunter2Secret\n",
     "roundcube:\n  config:\n    product_name: Mail\n"),
])
def test_a_broken_live_file_that_may_hold_secrets_is_named_without_its_text(
        tmp_path: Path, path: str, broken: bytes, state: str) -> None:
    """The error gives file, line and what was expected, never the text found there: a
    live Roundcube or Dovecot file can hold passwords the state does not know."""
    state_path = tmp_path / "s.yaml"
    state_path.write_text(state)
    loaded, facts = local_facts([state_path])
    live = facts.files.get(path) or RemoteFile(path, b"", 0o640, "root", "root")
    facts.files[path] = replace(live, data=live.data + broken)
    with pytest.raises(MailstateError) as caught:
        compile_host(loaded, facts)  # type: ignore[arg-type]
    message = str(caught.value)
    assert path in message and "expected" in message
    assert "Hunter2" not in message
    assert "text not shown" in message
