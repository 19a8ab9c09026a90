"""Failure paths end in a reported state for every host, proven on lab hosts.

A restore that cannot write is reported as incomplete and names the file; an exception
on one host (even an unexpected one) is that host's result while the others converge;
a damaged saved plan refuses only the damaged host; `mailstate rollback` takes over a
stale lock and refuses a live one by name; a host whose sshd refuses sessions fails
alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailstate.lab import Lab
from tests.engine.conftest import Run, host_digest, write_inventory
from tests.faults.conftest import (
    HOST,
    LOCK,
    PAUSE_FILE,
    WORKDIR,
    cli,
    finish,
    host_idle,
    ls,
    no_traceback,
    start_cli,
    wait_until,
)

SMALL = "postfix:\n  main:\n    smtp_tls_note_starttls_offer: yes\n"
ROUNDCUBE = "/etc/roundcube/config.inc.php"
SQUAT_587 = ("nohup python3 -c 'import socket,time; s=socket.socket(); "
             "s.bind((\"0.0.0.0\",587)); s.listen(); time.sleep(120)' >/dev/null 2>&1 & "
             "sleep 0.3; ss -ltnH")
LIVE_LOCK = ("mkdir -p {lock} && cd {lock} && (setsid sleep 60 >/dev/null 2>&1 & "
             "echo $! > holder) && printf 'run=other\\nowner=alice@admin pid 42\\n"
             "started=now\\n' > info")
DEAD_LOCK = ("mkdir -p {lock} && cd {lock} && sh -c 'echo $$ > holder' && "
             "printf 'run=gone\\nowner=bob@admin pid 7\\nstarted=then\\n' > info")


def _small_inventory(lab: Lab, tmp: Path) -> str:
    (tmp / "small.yaml").write_text(SMALL)
    return str(write_inventory(lab, tmp / "inv.yaml", [str(tmp / "small.yaml")]))


@contextmanager
def read_only(lab: Lab, target: str, host: str = HOST) -> Iterator[None]:
    """`target` read-only inside one lab host (its own mount namespace) for the block."""
    proc = lab.run(host, f"mount --bind {target} {target} && mount -o remount,ro,bind {target}")
    assert proc.returncode == 0, proc.stderr
    try:
        yield
    finally:
        lab.run(host, f"umount {target}")


def _messages(host: dict[str, object], code: str) -> list[dict[str, str]]:
    messages = host["messages"]
    assert isinstance(messages, list)
    return [m for m in messages if m["code"] == code]


def _only_h2_crashed(run: Run, others: str, point: str) -> None:
    """h2 failed with the injected exception at `point` as its `internal` message, and
    h1 and h3 ended `others` (the run's exit code says a host failed, no traceback)."""
    no_traceback(run)
    assert run.code == 1, run.stdout + run.stderr
    by_host = {h["host"]: h for h in run.json()["hosts"]}
    assert [by_host[h]["status"] for h in ("h1", "h2", "h3")] == [others, "failed", others]
    (crash,) = _messages(by_host["h2"], "internal")
    assert f"RuntimeError: injected fault on h2 at {point}" in crash["summary"]


def test_apply_rollback_that_cannot_write_is_incomplete_and_names_the_file(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """The change fails (587 is taken), and the restore meets a read-only dir."""
    assert ":587" in clean_lab.run(HOST, SQUAT_587).stdout
    stock = host_digest(clean_lab, HOST)
    try:
        proc = start_cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes", "--json",
                         fault="host-pause:before-rollback")
        wait_until(lambda: clean_lab.run(HOST, f"test -e {PAUSE_FILE}").returncode == 0)
        with read_only(clean_lab, "/etc/roundcube"):
            clean_lab.run(HOST, f"rm -f {PAUSE_FILE}")
            run = finish(proc)
            no_traceback(run)
            assert run.code == 1, run.stdout + run.stderr
            host = run.json()["hosts"][0]
            assert host["status"] == "failed", host
            (incomplete,) = _messages(host, "rollback-incomplete")
            assert f"{ROUNDCUBE} (" in incomplete["detail"], incomplete
            assert "Read-only file system" in incomplete["detail"]
            now = host_digest(clean_lab, HOST)
        # every other file is back; the one that could not be written is still the new one
        assert {p: d for p, d in now.items() if p != ROUNDCUBE} == \
            {p: d for p, d in stock.items() if p != ROUNDCUBE}
        assert now[ROUNDCUBE] != stock[ROUNDCUBE]
        assert clean_lab.run(HOST, f"test -d {LOCK}").returncode == 0  # left: reported next
    finally:
        clean_lab.run(HOST, "pkill -f 's.bind' ; true")


def test_mailstate_rollback_onto_a_read_only_dir_says_which_file_is_not_back(
        clean_lab: Lab, hardened_inventory: str) -> None:
    stock = host_digest(clean_lab, HOST)
    assert cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes").code == 0
    with read_only(clean_lab, "/etc/roundcube"):
        run = cli("rollback", HOST, "-i", hardened_inventory, "--yes", "--json")
        no_traceback(run)
        assert run.code == 1, run.stdout + run.stderr
        (host,) = run.json()["hosts"]
        assert host["status"] == "failed"
        assert list(host["not_back"]) == [ROUNDCUBE], host
        assert "Read-only file system" in host["not_back"][ROUNDCUBE]
        assert "/etc/postfix/main.cf" in host["restored"]
        (incomplete,) = _messages(host, "rollback-incomplete")
        assert ROUNDCUBE in incomplete["detail"]
    again = cli("rollback", HOST, "-i", hardened_inventory, "--yes", "--json")
    assert again.code == 0, again.stdout
    assert again.json()["hosts"][0]["status"] == "restored"
    assert host_digest(clean_lab, HOST) == stock


def test_an_exception_on_one_host_of_three_leaves_the_other_two_converged(
        clean_lab: Lab, hardened_inventory: str) -> None:
    stock_h2 = host_digest(clean_lab, "h2")
    run = cli("apply", "-i", hardened_inventory, "--yes", "--json",
              fault="raise:h2:validated")
    _only_h2_crashed(run, "applied", "validated")
    assert host_digest(clean_lab, "h2") == stock_h2
    assert ls(clean_lab, "/var/lib/mailstate", "h2") == []  # its lock was released
    for name in ("h1", "h3"):
        assert cli("plan", "-i", hardened_inventory, "--limit", name).code == 0


def test_an_exception_while_planning_one_host_of_three_fails_only_that_host(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """A surprise after h2's files were read: h2 is `internal`, h1 and h3 are planned."""
    run = cli("plan", "-i", hardened_inventory, "--json", fault="raise:h2:facts-read")
    no_traceback(run)
    assert run.code == 1, run.stdout + run.stderr  # documented: 1 when any host failed
    by_host = {h["host"]: h for h in run.json()["hosts"]}
    assert by_host["h2"]["ok"] is False and by_host["h2"]["changes"] == []
    (crash,) = [e for e in by_host["h2"]["errors"] if e["code"] == "internal"]
    assert "h2: unexpected error: RuntimeError: injected fault on h2 at facts-read" in \
        crash["summary"]
    for name in ("h1", "h3"):
        assert by_host[name]["ok"] is True and by_host[name]["errors"] == []
        assert "/etc/postfix/main.cf" in [c["path"] for c in by_host[name]["changes"]]
    assert (WORKDIR / "mailstate.retry").read_text() == "h2\n"  # only h2 to rerun

    human = cli("plan", "-i", hardened_inventory, fault="raise:h2:facts-read")
    no_traceback(human)
    assert human.code == 1
    blocks = {b.split("\n", 1)[0]: b for b in human.stdout.split("== ")[1:]}
    assert "unexpected error: RuntimeError: injected fault on h2" in blocks["h2"]
    assert "+++ " not in blocks["h2"]
    for name in ("h1", "h3"):  # their diffs are printed, whole
        assert "+++ b/etc/postfix/main.cf" in blocks[name]
        for change in by_host[name]["changes"]:
            assert change["diff"].rstrip("\n") in blocks[name], change["path"]
    assert "plan: 3 hosts, 2 to change, 0 unchanged, 1 failed" in human.stdout


def test_an_exception_during_one_hosts_rollback_fails_only_that_host(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """A surprise in the controller once h2's files are back: h2 is `internal`, h1 and
    h3 are restored, and h2's host script, which ignores the hangup, finishes alone."""
    stock = {name: host_digest(clean_lab, name) for name in ("h1", "h2", "h3")}
    assert cli("apply", "-i", hardened_inventory, "--yes").code == 0
    run = cli("rollback", "all", "-i", hardened_inventory, "--yes", "--json",
              fault="raise:h2:rollback-restored")
    _only_h2_crashed(run, "restored", "rollback-restored")
    wait_until(lambda: host_idle(clean_lab, "h2"))
    wait_until(lambda: ls(clean_lab, "/var/lib/mailstate", "h2") == [])
    assert {name: host_digest(clean_lab, name) for name in ("h1", "h2", "h3")} == stock


def test_a_damaged_saved_plan_refuses_that_host_and_applies_the_others(
        clean_lab: Lab, tmp_path: Path) -> None:
    inventory = _small_inventory(clean_lab, tmp_path)
    saved = tmp_path / "plan.json"
    assert cli("plan", "-i", inventory, "-o", str(saved)).code == 2
    document = json.loads(saved.read_text())
    (entry,) = document["hosts"]["h2"]["files"].values()
    del entry["after_sha256"]  # edited by hand
    saved.write_text(json.dumps(document))
    stock_h2 = host_digest(clean_lab, "h2")
    run = cli("apply", str(saved), "--json")
    no_traceback(run)
    assert run.code == 1, run.stdout + run.stderr
    by_host = {h["host"]: h for h in run.json()["hosts"]}
    assert by_host["h1"]["status"] == by_host["h3"]["status"] == "applied"
    assert by_host["h2"]["status"] == "refused"
    (damaged,) = _messages(by_host["h2"], "saved-plan-damaged")
    assert "h2:" in damaged["summary"] and "after_sha256" in damaged["summary"]
    assert host_digest(clean_lab, "h2") == stock_h2

    saved.write_text(json.dumps({"format": 1, "hosts": ["h1"]}))  # not a plan's shape
    broken = cli("apply", str(saved), "--yes")
    no_traceback(broken)
    assert broken.code == 1
    assert "hosts" in broken.stdout + broken.stderr and str(saved) in broken.stderr


def test_rollback_takes_over_a_stale_lock(clean_lab: Lab, tmp_path: Path) -> None:
    inventory = _small_inventory(clean_lab, tmp_path)
    stock = host_digest(clean_lab, HOST)
    assert cli("apply", "-i", inventory, "--limit", HOST, "--yes").code == 0
    clean_lab.run(HOST, DEAD_LOCK.format(lock=LOCK), check=True)
    run = cli("rollback", HOST, "-i", inventory, "--yes", "--json")
    assert run.code == 0, run.stdout + run.stderr
    (host,) = run.json()["hosts"]
    assert host["status"] == "restored"
    (stale,) = _messages(host, "stale-lock")
    assert "bob@admin" in stale["detail"]
    assert host_digest(clean_lab, HOST) == stock
    assert ls(clean_lab, "/var/lib/mailstate") == []


def test_rollback_refuses_a_live_lock_and_names_its_holder(clean_lab: Lab,
                                                           tmp_path: Path) -> None:
    inventory = _small_inventory(clean_lab, tmp_path)
    assert cli("apply", "-i", inventory, "--limit", HOST, "--yes").code == 0
    applied = host_digest(clean_lab, HOST)
    clean_lab.run(HOST, LIVE_LOCK.format(lock=LOCK), check=True)
    try:
        run = cli("rollback", HOST, "-i", inventory, "--yes", "--json", "--lock-wait", "1")
        no_traceback(run)
        assert run.code == 1
        (host,) = run.json()["hosts"]
        assert host["status"] == "failed" and host["restored"] == []
        (locked,) = _messages(host, "locked")
        assert "held by alice@admin pid 42 (run other" in locked["detail"], locked
        assert host_digest(clean_lab, HOST) == applied
        human = cli("rollback", HOST, "-i", inventory, "--yes", "--lock-wait", "1")
        assert "another run holds the lock" in human.stdout and "alice@admin" in human.stdout
    finally:
        clean_lab.run(HOST, f"kill $(cat {LOCK}/holder); rm -rf {LOCK}")
    wait_until(lambda: host_idle(clean_lab))


def test_a_host_that_refuses_sessions_fails_alone(clean_lab: Lab, tmp_path: Path) -> None:
    """sshd with MaxSessions 0: login works, every exec channel is refused."""
    dropin = "/etc/ssh/sshd_config.d/00-mailstate-test.conf"
    hup = "kill -HUP $(cat /run/sshd.pid) && sleep 0.3"
    clean_lab.run("h2", f"echo 'MaxSessions 0' > {dropin} && {hup}", check=True)
    inventory = _small_inventory(clean_lab, tmp_path)
    try:
        run = cli("apply", "-i", inventory, "--yes", "--json")
        no_traceback(run)
        assert run.code == 1, run.stdout + run.stderr
        by_host = {h["host"]: h for h in run.json()["hosts"]}
        assert by_host["h1"]["status"] == by_host["h3"]["status"] == "applied"
        assert by_host["h2"]["status"] == "failed"
        (session,) = _messages(by_host["h2"], "session")
        assert "refused to open a session" in session["summary"], session
    finally:
        clean_lab.run("h2", f"rm -f {dropin} && {hup}")


def test_a_check_that_could_not_run_is_reported_not_dropped(clean_lab: Lab,
                                                            tmp_path: Path) -> None:
    """No php on the host: the Roundcube change goes in, and the report says unchecked."""
    clean_lab.run(HOST, "mount --bind /dev/null /usr/bin/php", check=True)
    try:
        (tmp_path / "rc.yaml").write_text("roundcube:\n  config:\n"
                                          "    smtp_host: tls://127.0.0.1:587\n")
        inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml",
                                        [str(tmp_path / "rc.yaml")]))
        run = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
        assert run.code == 0, run.stdout + run.stderr
        host = run.json()["hosts"][0]
        assert host["status"] == "applied"
        (note,) = _messages(host, "validation-note")
        assert note["severity"] == "warning"
        assert f"php is not installed: {ROUNDCUBE} was not checked" in note["summary"]
    finally:
        clean_lab.run(HOST, "umount /usr/bin/php")
