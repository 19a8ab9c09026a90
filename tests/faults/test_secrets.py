"""Secrets stay secret: never in output, saved plans or world-readable files; stage is private.

One state carries a SASL password in a `secret: true` map (a file apply creates) and a
Roundcube des_key (an existing file with a secret). Everything the CLI prints, the saved
plan, and the host's backups and stage are checked. The become password is proven in
tests/engine/test_become_lab.py, a changed host key in tests/engine/test_safety_lab.py.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from mailstate.lab import Lab
from tests.engine.conftest import write_inventory
from tests.faults.conftest import (
    BACKUPS,
    HOST,
    PAUSE_FILE,
    cli,
    finish,
    ls,
    no_traceback,
    start_cli,
    wait_until,
)

STATE = """
postfix:
  main:
    smtp_sasl_password_maps: hash:/etc/postfix/sasl_passwd
  maps:
    /etc/postfix/sasl_passwd:
      type: hash
      secret: true
      content:
        "[smtp.example.net]:587": "relayuser:{sasl}"
roundcube:
  config:
    des_key: "{des}"
"""
NOBODY_READS = "runuser -u nobody -- ls {0} > /dev/null 2>&1 && echo readable || echo denied"


def _stat(lab: Lab, path: str) -> str:
    return lab.run(HOST, f"stat -c '%a %U %G' {path}").stdout.strip()


def test_secrets_never_printed_saved_or_readable_by_others(clean_lab: Lab,
                                                           tmp_path: Path) -> None:
    sasl, des = "Sasl-" + secrets.token_hex(8), "Des" + secrets.token_hex(10)[:21]
    state = tmp_path / "secret.yaml"
    state.write_text(STATE.format(sasl=sasl, des=des))
    inventory = str(write_inventory(clean_lab, tmp_path / "inv.yaml", [str(state)]))
    rc_before = _stat(clean_lab, "/etc/roundcube/config.inc.php")
    saved = tmp_path / "plan.json"
    outputs = [
        cli("plan", "-i", inventory, "--limit", HOST),
        cli("plan", "-i", inventory, "--limit", HOST, "--json"),
        cli("plan", "-i", inventory, "--limit", HOST, "-o", str(saved)),
        cli("apply", str(saved), "--json"),
        cli("show", HOST, "-i", inventory),
    ]
    for out in outputs:
        no_traceback(out)
        for secret in (sasl, des):
            assert secret not in out.stdout + out.stderr
    assert outputs[3].code == 0, outputs[3].stdout
    for secret in (sasl, des):
        assert secret not in saved.read_text()
    # the secrets did reach the host, in files only root can read
    assert sasl in clean_lab.run(HOST, "cat /etc/postfix/sasl_passwd").stdout
    assert _stat(clean_lab, "/etc/postfix/sasl_passwd") == "600 root root"
    assert _stat(clean_lab, "/etc/postfix/sasl_passwd.db").startswith("600 ")
    assert _stat(clean_lab, "/etc/roundcube/config.inc.php") == rc_before  # mode/owner kept

    # a second change backs up the secret-bearing files: private dir, original modes
    state.write_text(STATE.format(sasl=sasl + "2", des=des[::-1]))
    again = cli("apply", "-i", inventory, "--limit", HOST, "--yes", "--json")
    assert again.code == 0, again.stdout
    backup = again.json()["hosts"][0]["backup"]
    assert _stat(clean_lab, BACKUPS) == "700 root root"
    assert _stat(clean_lab, backup) == "700 root root"
    assert _stat(clean_lab, f"{backup}/files/etc/roundcube/config.inc.php") == rc_before
    assert _stat(clean_lab, f"{backup}/files/etc/postfix/sasl_passwd") == "600 root root"
    for path in ("etc/roundcube/config.inc.php", "etc/postfix/sasl_passwd"):
        assert clean_lab.run(HOST, NOBODY_READS.format(f"{backup}/files/{path}")).stdout \
            .strip() == "denied"
    assert ls(clean_lab, "/var/lib/mailstate") == []


def test_stage_is_private_while_applying_and_gone_after(clean_lab: Lab,
                                                        hardened_inventory: str) -> None:
    proc = start_cli("apply", "-i", hardened_inventory, "--limit", HOST, "--yes", "--json",
                     fault="host-pause:after-first-write")
    try:
        wait_until(lambda: clean_lab.run(HOST, f"test -e {PAUSE_FILE}").returncode == 0)
        base = "/var/lib/mailstate"
        assert _stat(clean_lab, base) == "700 root root"
        (stage,) = [f for f in ls(clean_lab, base) if f.startswith("stage.")]
        assert _stat(clean_lab, f"{base}/{stage}") == "700 root root"
        modes = clean_lab.run(HOST, f"find {base}/{stage}/files -type f -printf '%m\\n'")
        assert set(modes.stdout.split()) == {"600"}
        # the stage copies of other live files keep their modes, behind the 0700 dir
        assert clean_lab.run(HOST, NOBODY_READS.format(f"{base}/{stage}/files")).stdout \
            .strip() == "denied"
    finally:
        clean_lab.run(HOST, f"rm -f {PAUSE_FILE}")
    run = finish(proc)
    assert run.code == 0, run.stdout + run.stderr
    assert ls(clean_lab, "/var/lib/mailstate") == []
    leftovers = clean_lab.run(HOST, "find /etc/postfix /etc/dovecot /etc/roundcube "
                                    "-name '.mailstate.*'").stdout
    assert leftovers == ""
