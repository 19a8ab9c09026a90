"""The README's first command runs this path: it must keep working end to end.

`./run demo` as a new user runs it (no options): a mixed fleet, two Debian 12 hosts and
one Debian 13, converged by the shipped profile from one inventory, audited at the end.
It runs on the session lab's instance, whose h3 it turns into a Debian 13 host; h3 is
rebuilt as Debian 12 afterwards (about a second each way) for the tests after it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailstate.lab import Lab
from tests.conftest import LAB_RELEASE

REPO = Path(__file__).resolve().parents[1]


def test_demo_converges_a_mixed_fleet_and_its_audit_passes(lab: Lab) -> None:
    try:
        proc = subprocess.run([sys.executable, "-m", "mailstate.demo", "--instance",
                               str(lab.instance)], cwd=REPO, capture_output=True, text=True,
                              timeout=300, check=False)
        releases = {h.name: h.release for h in lab.hosts()}
    finally:
        lab.up(3, releases=LAB_RELEASE)
        lab.reset()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert releases == {"h1": "bookworm", "h2": "bookworm", "h3": "trixie"}
    table = out.split("### Each host's release", 1)[1].split("###", 1)[0]
    status = {line.split()[0]: line for line in table.splitlines()
              if line.startswith(("h1 ", "h2 ", "h3 "))}
    assert "trixie (13)" in status["h3"] and "2.4." in status["h3"]
    assert "bookworm (12)" in status["h1"] and "2.3." in status["h1"]
    assert "+submission inet n" in out
    # one state, each Dovecot's own spelling: 2.3's listener address, 2.4's listen
    assert "+    address = 127.0.0.1" in out and "+    listen = 127.0.0.1" in out
    assert "apply: 3 hosts, 3 converged, 0 failed" in out
    assert "plan: 3 hosts, 0 to change, 3 unchanged, 0 failed" in out
    address = lab.host("h3").address
    assert f"h3 ({address}): ok" in out  # the audit of the Debian 13 host
    assert "demo done." in out
