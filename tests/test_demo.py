"""The README's first command runs this path: it must keep working end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailstate.lab import Lab

REPO = Path(__file__).resolve().parents[1]


def test_demo_plans_applies_and_converges(lab: Lab) -> None:
    proc = subprocess.run([sys.executable, "-m", "mailstate.demo", "3", "--instance",
                           str(lab.instance)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "+submission inet n" in out
    assert "apply: 3 hosts, 3 converged, 0 failed" in out
    assert "plan: 3 hosts, 0 to change, 3 unchanged, 0 failed" in out
    assert "demo done." in out
    lab.reset()
