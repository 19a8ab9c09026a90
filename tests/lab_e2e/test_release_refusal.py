"""A setting Dovecot 2.4 refuses, through the real CLI on a real mixed fleet.

One state, one inventory: h1 (Debian 12, Dovecot 2.3) knows `auth_worker_max_count`;
h2 (Debian 13, Dovecot 2.4) does not (2.4 limits auth workers like any service:
`service auth-worker { process_limit = N }`, dovecot_renames.py "changed"). `mailstate
plan` must refuse h2 alone, with the diagnostic code `release`, the setting, the 2.4
name and the reason, at the file:line of the state that writes it, and plan h1 as usual;
`mailstate apply --yes` must apply h1 and leave h2 exactly as it was, exit status 1.
The unit side of the same promise: tests/releases/test_translate.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailstate.lab import Lab
from tests.engine.conftest import listeners, mailstate
from tests.lab_e2e.conftest import tmp_inventory, tree_digest

STATE = """\
# a Postfix change every release takes, and a Dovecot 2.3 setting 2.4 refuses
postfix:
  main:
    smtp_tls_note_starttls_offer: yes
dovecot:
  settings:
    auth_worker_max_count: 30
"""
SETTING_LINE = 7  # of STATE: `auth_worker_max_count: 30`
PIDS = "cat /run/dovecot/master.pid /var/spool/postfix/pid/master.pid"


def refusal(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The one `release` error of a host, checked to name the setting, 2.4's way, why."""
    assert [e["code"] for e in errors] == ["release"], errors
    [found] = errors
    assert found["extra"]["path"] == "dovecot.settings.auth_worker_max_count"
    assert found["summary"].startswith("auth_worker_max_count: Dovecot 2.4 does not accept")
    assert "limits auth workers like any service" in found["summary"]  # the reason
    assert "service auth-worker/process_limit" in found["fix"]  # what to write for 2.4
    assert found["reference"].startswith("https://doc.dovecot.org/2.4")
    return found


def test_plan_and_apply_refuse_the_debian_13_host_alone(mixed_lab: Lab, tmp_path: Path) -> None:
    state = tmp_path / "workers.yaml"
    state.write_text(STATE)
    assert STATE.splitlines()[SETTING_LINE - 1].strip().startswith("auth_worker_max_count:")
    inventory = tmp_inventory(mixed_lab, tmp_path, [str(state)])

    plan = mailstate("plan", "-i", inventory, "--json")
    assert plan.code == 1, plan.stdout + plan.stderr  # a host failed (plan --help)
    hosts = {h["host"]: h for h in plan.json()["hosts"]}
    h1, h2 = hosts["h1"], hosts["h2"]
    assert h1["versions"]["dovecot"].startswith("1:2.3.") and h1["errors"] == []
    diffs = {c["path"]: c["diff"] for c in h1["changes"]}
    assert "+smtp_tls_note_starttls_offer = yes" in diffs["/etc/postfix/main.cf"]
    assert "+auth_worker_max_count = 30" in diffs["/etc/dovecot/dovecot.conf"]
    assert h2["versions"]["dovecot"].startswith("1:2.4.")
    assert h2["changes"] == [] and h2["round_trips"] == 1
    location = refusal(h2["errors"])["location"]
    assert (location["file"], location["line"]) == (str(state), SETTING_LINE)

    human = mailstate("plan", "-i", inventory, "--limit", "h2")
    assert human.code == 1 and "Traceback" not in human.stderr
    assert f"{state}:{SETTING_LINE}:" in human.stdout and "error [release]: " \
        "auth_worker_max_count: Dovecot 2.4 does not accept" in human.stdout, human.stdout

    before = (tree_digest(mixed_lab, "h2"), mixed_lab.run("h2", PIDS, check=True).stdout,
              listeners(mixed_lab, "h2"))
    applied = mailstate("apply", "-i", inventory, "--yes", "--json")
    assert applied.code == 1, applied.stdout + applied.stderr  # any host failed (apply --help)
    results = {h["host"]: h for h in applied.json()["hosts"]}
    assert results["h1"]["status"] == "applied", results["h1"]
    shown = mixed_lab.run("h1", "doveconf -h auth_worker_max_count; "
                                "postconf -h smtp_tls_note_starttls_offer", check=True)
    assert shown.stdout.split() == ["30", "yes"]
    h2_result = results["h2"]
    assert h2_result["status"] == "failed" and h2_result["written"] == []
    assert h2_result["backup"] is None and h2_result["round_trips"] == 1  # facts, no lock
    location = refusal(h2_result["messages"])["location"]
    assert (location["file"], location["line"]) == (str(state), SETTING_LINE)
    after = (tree_digest(mixed_lab, "h2"), mixed_lab.run("h2", PIDS, check=True).stdout,
             listeners(mixed_lab, "h2"))
    assert after == before  # same files, same daemons, same listeners
    assert mixed_lab.run("h2", "ls -A /var/lib/mailstate 2>/dev/null").stdout == ""
