"""apply's own rollback on a real Debian 13 host (Postfix 3.10, Dovecot 2.4).

A change that passes validation but whose service does not come back: the port it
needs is held by another process. apply must end `rolled-back`, exit status 1, with
every file as before (byte for byte, a map and its index gone again) and the listeners
of before back. Postfix 3.10: the hardened profile with 587 taken (its master dies on
reload; the Dovecot 2.4 half of the profile is rolled back with it). Dovecot 2.4: a
listener moved to a taken port; 2.4's master logs `listen(*, PORT) failed` in
`doveadm log errors` and keeps running, and that error decides the rollback at once
(it waited out the 15 s listener wait before). Debian 12's side: tests/engine/
test_safety_lab.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailstate.lab import Lab
from tests.engine.conftest import listeners, mailstate
from tests.lab_e2e.conftest import tmp_inventory, tree_digest

SQUAT = ("nohup python3 -c 'import socket,time; s=socket.socket(); "
         "s.bind((\"0.0.0.0\",{port})); s.listen(); time.sleep(120)' >/dev/null 2>&1 & "
         "sleep 0.3; ss -ltnpH")
POP3S_MOVED = """\
dovecot:
  settings:
    service pop3-login:
      inet_listener pop3s:
        port: 10995
"""


@pytest.mark.parametrize(("port", "state", "why"), [
    (587, "hardened", ["postfix master is not running",
                       "port 587 is held by another process (python3), not master"]),
    (10995, POP3S_MOVED, ["master: service(pop3-login): listen(*, 10995) failed: "
                          "Address already in use",
                          "port 10995 is held by another process (python3), not dovecot"]),
], ids=["postfix-3.10-master-dies", "dovecot-2.4-listener-port-taken"])
def test_service_that_does_not_come_back_is_rolled_back_on_debian_13(
        mixed_lab: Lab, tmp_path: Path, port: int, state: str, why: list[str]) -> None:
    versions = mixed_lab.run("h2", "dovecot --version; postconf -h mail_version",
                             check=True).stdout.splitlines()
    assert versions[0].startswith("2.4.") and versions[1].startswith("3.10."), versions
    if state != "hardened":
        (tmp_path / "state.yaml").write_text(state)
        state = str(tmp_path / "state.yaml")
    inventory = tmp_inventory(mixed_lab, tmp_path, [state])
    try:
        assert f":{port} " in mixed_lab.run("h2", SQUAT.format(port=port), check=True).stdout
        before, ports_before = tree_digest(mixed_lab, "h2"), listeners(mixed_lab, "h2")
        out = mailstate("apply", "-i", inventory, "--limit", "h2", "--yes", "--json")
        assert out.code == 1, out.stdout + out.stderr  # any host failed (apply --help)
        [host] = out.json()["hosts"]
        assert host["status"] == "rolled-back", host
        messages = json.dumps(host["messages"])
        assert all(reason in messages for reason in why), messages
        # the rollback checked its own work: the listeners of before are back
        assert [m["code"] for m in host["messages"]] == ["rolled-back"], host["messages"]
        assert host["backup"].startswith("/var/backups/mailstate/")
        assert host["seconds"] < 10  # decided by the dead master / 2.4's logged error
        assert tree_digest(mixed_lab, "h2") == before
        assert listeners(mixed_lab, "h2") == ports_before
        assert mixed_lab.run("h2", "ls -A /var/lib/mailstate").stdout == ""
    finally:
        mixed_lab.run("h2", "pkill -f 's.bind' ; true")
