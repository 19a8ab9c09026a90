"""`reset` puts stock files back, restarts what changed, and is cheap when nothing did."""

from __future__ import annotations

import time
from pathlib import Path

from mailstate.lab import Lab


def master_pids(lab: Lab, name: str) -> dict[str, str]:
    out = lab.run(name, "cat /run/sshd.pid /var/spool/postfix/pid/master.pid "
                        "/run/dovecot/master.pid").stdout.split()
    return dict(zip(("sshd", "postfix", "dovecot"), out, strict=True))


def sha(lab: Lab, name: str, path: str) -> str:
    return lab.run(name, f"sha256sum {path}").stdout.split()[0]


def test_reset_restores_master_cf_and_restarts_postfix(clean_lab: Lab) -> None:
    stock = sha(clean_lab, "h1", "/etc/postfix/master.cf")
    before = master_pids(clean_lab, "h1")
    proc = clean_lab.run("h1", "sed -i 's/^#submission inet/submission inet/' "
                               "/etc/postfix/master.cf && postfix reload")
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 10
    while 587 not in clean_lab.status()[0].ports and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 587 in clean_lab.status()[0].ports

    [status] = clean_lab.reset(["h1"])

    assert status.ports == [22, 25, 110, 143, 993, 995, 8080]
    assert sha(clean_lab, "h1", "/etc/postfix/master.cf") == stock
    after = master_pids(clean_lab, "h1")
    assert after["postfix"] != before["postfix"]
    assert (after["sshd"], after["dovecot"]) == (before["sshd"], before["dovecot"])


def test_reset_restores_dovecot_and_removes_added_files(clean_lab: Lab) -> None:
    conf = "/etc/dovecot/conf.d/99-test.conf"
    clean_lab.run("h2", f"echo 'protocols = imap' > {conf}; chmod 600 /etc/dovecot/dovecot.conf;"
                        " doveadm reload")
    deadline = time.monotonic() + 10
    while 110 in clean_lab.status()[1].ports and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 110 not in clean_lab.status()[1].ports

    clean_lab.reset(["h2"])

    assert clean_lab.run("h2", f"test -e {conf}").returncode == 1
    assert clean_lab.run("h2", "stat -c %a /etc/dovecot/dovecot.conf").stdout.strip() == "644"
    assert clean_lab.status()[1].ports == [22, 25, 110, 143, 993, 995, 8080]


def test_reset_restores_a_file_replaced_by_rename_and_a_deleted_one(clean_lab: Lab) -> None:
    stock = sha(clean_lab, "h3", "/etc/roundcube/config.inc.php")
    clean_lab.run("h3", "cd /etc/roundcube && echo '<?php' > .new && mv .new config.inc.php"
                        " && rm debian-db-roundcube.php"
                        " && rm /etc/ssh/sshd_config.d/mailstate-lab.conf")
    clean_lab.reset(["h3"])
    assert sha(clean_lab, "h3", "/etc/roundcube/config.inc.php") == stock
    assert clean_lab.run("h3", "test -f /etc/roundcube/debian-db-roundcube.php").returncode == 0
    owner = clean_lab.run("h3", "stat -c %U:%G:%a /etc/roundcube/config.inc.php").stdout.strip()
    assert owner.endswith(":640") and owner.startswith("root:")
    # sshd came back with its own config (key-only root login still works)
    assert clean_lab.status()[2].sshd


def test_reset_wipes_engine_leftovers(clean_lab: Lab) -> None:
    clean_lab.run("h1", "mkdir -p /var/lib/mailstate /var/backups/mailstate/2024 && "
                        "touch /var/lib/mailstate/lock /var/backups/mailstate/2024/main.cf "
                        "/run/lock/mailstate.lock /tmp/mailstate-stage")
    clean_lab.reset()
    left = clean_lab.run("h1", "ls -d /var/lib/mailstate /var/backups/mailstate "
                               "/run/lock/mailstate* /tmp/mailstate* 2>/dev/null").stdout
    assert left == ""


def test_leftovers_are_per_host_not_on_the_machine(clean_lab: Lab) -> None:
    clean_lab.run("h1", "mkdir -p /var/lib/mailstate && touch /var/lib/mailstate/lock")
    assert clean_lab.run("h2", "test -e /var/lib/mailstate/lock").returncode == 1
    assert clean_lab.run("h1", "test -e /var/lib/mailstate/lock").returncode == 0
    assert not Path("/var/lib/mailstate/lock").exists()


def test_noop_reset_restarts_nothing_and_is_fast(clean_lab: Lab) -> None:
    before = {h.name: master_pids(clean_lab, h.name) for h in clean_lab.hosts()}
    started = time.monotonic()
    clean_lab.reset()
    took = time.monotonic() - started
    assert {h.name: master_pids(clean_lab, h.name) for h in clean_lab.hosts()} == before
    assert took < 2.0, f"a reset with nothing to do took {took:.2f} s"


def test_reset_restarts_a_stopped_service(clean_lab: Lab) -> None:
    clean_lab.run("h2", "postfix stop; doveadm stop")
    deadline = time.monotonic() + 10
    while clean_lab.status()[1].ports != [22, 8080] and time.monotonic() < deadline:
        time.sleep(0.05)
    [status] = clean_lab.reset(["h2"])
    assert (status.sshd, status.postfix, status.dovecot) == (True, True, True)
    assert status.ports == [22, 25, 110, 143, 993, 995, 8080]
