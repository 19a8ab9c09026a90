"""`lab up` on hosts that are already running and no longer stock is harmless."""

from __future__ import annotations

from mailstate.lab import Lab


def test_up_again_after_a_host_was_changed_keeps_the_change(clean_lab: Lab) -> None:
    close_imap = ("sed -i '0,/#port = 143/s//port = 0/' /etc/dovecot/conf.d/10-master.conf"
                  " && doveadm reload && sleep 0.5 && ss -ltnH")
    assert ":143 " not in clean_lab.run("h1", close_imap, check=True).stdout
    clean_lab.up(3)
    status = {s.name: s for s in clean_lab.status()}
    assert status["h1"].sshd and status["h1"].postfix and status["h1"].dovecot
    assert 143 not in status["h1"].ports
    assert "port = 0" in clean_lab.run("h1", "cat /etc/dovecot/conf.d/10-master.conf").stdout
