"""A rollback that does not bring the services back says so, proven on lab hosts.

The failure side of "a rollback reloads and verifies the listeners like apply": the
files go back, but the reload fails (`rollback-actions`) or the listeners of before do
not come back (`rollback-unverified`), for `mailstate rollback` and for apply's own
rollback. The hosts are prepared with their own means (a daemon stopped, a port taken by
another process in the host's namespace); a host script is paused only through the test
suite's entry point (tests/faults/entry.py).
"""

from __future__ import annotations

from mailstate.lab import Lab
from tests.engine.conftest import host_digest
from tests.faults.conftest import (
    HOST,
    LOCK,
    PAUSE_FILE,
    cli,
    finish,
    host_idle,
    host_ports,
    no_traceback,
    start_cli,
    wait_until,
)


def squat(lab: Lab, port: int, host: str = HOST) -> None:
    """A python3 process in the host's namespace listens on `port` (2 min at most)."""
    out = lab.run(host, "nohup python3 -c 'import socket,time; s=socket.socket(); "
                        f"s.bind((\"0.0.0.0\",{port})); s.listen(); time.sleep(120)' "
                        f">/dev/null 2>&1 & sleep 0.3; ss -ltnpH 'sport = :{port}'").stdout
    assert "python3" in out, out


def unsquat(lab: Lab, host: str = HOST) -> None:
    lab.run(host, "pkill -f 's.bind' ; true")


def listening(lab: Lab, port: int, process: str, host: str = HOST) -> bool:
    """`process` listens on `port` in the host's namespace."""
    out = lab.run(host, f"ss -ltnpH 'sport = :{port}'").stdout
    return f'(("{process}"' in out


def _codes(host: dict[str, object]) -> list[str]:
    messages = host["messages"]
    assert isinstance(messages, list)
    return [m["code"] for m in messages]


def _message(host: dict[str, object], code: str) -> dict[str, str]:
    """The one message of `host` (a --json host entry) with `code`."""
    messages = host["messages"]
    assert isinstance(messages, list)
    found: list[dict[str, str]] = [m for m in messages if m["code"] == code]
    assert len(found) == 1, messages
    return found[0]


def _failed_rollback(lab: Lab, inventory: str, stock: dict[str, str]) -> dict[str, object]:
    """`mailstate rollback --json` of HOST, which must fail (exit 1, status `failed`)
    with the files back all the same; its host entry."""
    run = cli("rollback", HOST, "-i", inventory, "--yes", "--json", "--verify-seconds", "2")
    no_traceback(run)
    assert run.code == 1, run.stdout + run.stderr
    (host,) = run.json()["hosts"]
    assert host["status"] == "failed" and host["ok"] is False
    assert host_digest(lab, HOST) == stock  # the files are back all the same
    assert isinstance(host, dict)
    return host


def test_rollback_whose_reload_fails_reports_rollback_actions(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """Postfix was stopped after the apply and port 25 taken meanwhile: the files go
    back, `postfix start` fails, and the rollback says so (it is not `restored`)."""
    stock = host_digest(clean_lab, HOST)
    assert cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes").code == 0
    clean_lab.run(HOST, "postfix stop", check=True)
    wait_until(lambda: not listening(clean_lab, 25, "master"))
    squat(clean_lab, 25)
    try:
        host = _failed_rollback(clean_lab, hardened_inventory, stock)
        actions = _message(host, "rollback-actions")
        assert "postfix start failed" in actions["detail"], actions
        unverified = _message(host, "rollback-unverified")  # and what that left behind
        assert "postfix master is not running" in unverified["detail"], unverified
        human = cli("rollback", HOST, "-i", hardened_inventory, "--yes", "--verify-seconds", "2")
        assert human.code == 1
        assert f"== {HOST}: failed" in human.stdout
        assert "running the change's actions again failed" in human.stdout
        assert "postfix start failed" in human.stdout
    finally:
        unsquat(clean_lab)
    assert clean_lab.run(HOST, f"test -e {LOCK}").returncode != 0  # nothing left held


def test_rollback_whose_listeners_do_not_come_back_reports_rollback_unverified(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """The hardened change closed 143; another process took it since: Dovecot's reload
    cannot listen there again, and the rollback names the port and the process."""
    stock = host_digest(clean_lab, HOST)
    assert cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes").code == 0
    assert not listening(clean_lab, 143, "dovecot")
    squat(clean_lab, 143)
    try:
        host = _failed_rollback(clean_lab, hardened_inventory, stock)
        unverified = _message(host, "rollback-unverified")
        assert "port 143 is held by another process (python3), not dovecot" in \
            unverified["detail"], unverified
    finally:
        unsquat(clean_lab)


def test_apply_whose_own_rollback_does_not_bring_the_listeners_back_says_so(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """587 is taken (the change fails); while the host waits before its rollback, 143,
    which the change closed, is taken too: the rollback cannot bring it back."""
    stock = host_digest(clean_lab, HOST)
    squat(clean_lab, 587)
    try:
        proc = start_cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes",
                         "--json", "--verify-seconds", "3", fault="host-pause:before-rollback")
        wait_until(lambda: clean_lab.run(HOST, f"test -e {PAUSE_FILE}").returncode == 0)
        wait_until(lambda: not listening(clean_lab, 143, "dovecot"))
        squat(clean_lab, 143)
        clean_lab.run(HOST, f"rm -f {PAUSE_FILE}")
        run = finish(proc)
        no_traceback(run)
        assert run.code == 1, run.stdout + run.stderr
        (host,) = run.json()["hosts"]
        assert host["status"] == "failed", host  # not `rolled-back`: that promises both
        assert "rolled-back" not in _codes(host)
        unverified = _message(host, "rollback-unverified")
        assert "the change did not come up; its files were put back" in \
            unverified["summary"]
        assert "port 143 is held by another process (python3), not dovecot" in \
            unverified["detail"], unverified
        assert "587" in unverified["detail"]  # why the change failed, too
        assert host_digest(clean_lab, HOST) == stock
    finally:
        unsquat(clean_lab)
    wait_until(lambda: host_idle(clean_lab))


def test_rollback_starts_a_daemon_that_was_merely_stopped(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """The contrast to the tests above: with nothing in its way, a daemon stopped after
    the apply is started by the rollback's reload action, and the rollback is whole."""
    stock = host_digest(clean_lab, HOST)
    stock_ports = host_ports(clean_lab)
    assert cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes").code == 0
    clean_lab.run(HOST, "postfix stop && doveadm stop", check=True)
    wait_until(lambda: not ({25, 995} & host_ports(clean_lab)))
    run = cli("rollback", HOST, "-i", hardened_inventory, "--yes", "--json")
    assert run.code == 0, run.stdout + run.stderr
    (host,) = run.json()["hosts"]
    assert host["status"] == "restored" and host["messages"] == [], host
    assert host_digest(clean_lab, HOST) == stock
    assert host_ports(clean_lab) == stock_ports  # checked by the rollback: no wait here


def test_a_socket_that_does_not_come_back_is_named_even_when_its_port_listens(
        clean_lab: Lab, hardened_inventory: str) -> None:
    """Dovecot listened on 0.0.0.0:143 and [::]:143 before the change. During the
    rollback's reload another process holds 0.0.0.0:143 and leaves right after, so the
    port listens again, on [::] alone: IPv4 clients are not served as before. The check
    by port passed this (`rolled-back`); each socket of before is checked now."""
    before = clean_lab.run(HOST, "ss -ltnpH 'sport = :143'").stdout
    assert "0.0.0.0:143" in before and "[::]:143" in before, before
    squat(clean_lab, 587)
    hold = "/run/mailstate-test-hold-143"
    try:
        proc = start_cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes",
                         "--json", "--verify-seconds", "5", fault="host-pause:before-rollback")
        wait_until(lambda: clean_lab.run(HOST, f"test -e {PAUSE_FILE}").returncode == 0)
        wait_until(lambda: not listening(clean_lab, 143, "dovecot"))
        clean_lab.run(HOST, f"touch {hold} && (nohup python3 -c 'import os,socket,time; "
                            "s=socket.socket(); s.bind((\"0.0.0.0\",143)); s.listen()\n"
                            f"while os.path.exists(\"{hold}\"): time.sleep(0.05)' "
                            ">/dev/null 2>&1 &) && sleep 0.3", check=True)
        assert listening(clean_lab, 143, "python3")
        clean_lab.run(HOST, f"rm -f {PAUSE_FILE}")
        # the rollback's reload: Dovecot takes [::]:143 only; then the holder leaves
        wait_until(lambda: "[::]:143" in clean_lab.run(
            HOST, "ss -ltnpH 'sport = :143'").stdout and listening(clean_lab, 143, "dovecot"))
        clean_lab.run(HOST, f"rm -f {hold}")
        run = finish(proc)
        no_traceback(run)
        assert run.code == 1, run.stdout + run.stderr
        (host,) = run.json()["hosts"]
        assert host["status"] == "failed", host
        unverified = _message(host, "rollback-unverified")
        assert "0.0.0.0:143 is not listening again (dovecot)" in unverified["detail"], \
            unverified
        after = clean_lab.run(HOST, "ss -ltnpH 'sport = :143'").stdout
        assert "[::]:143" in after and "0.0.0.0:143" not in after, after  # as reported
    finally:
        clean_lab.run(HOST, f"rm -f {hold}")
        unsquat(clean_lab)
    wait_until(lambda: host_idle(clean_lab))
