"""`mailstate demo --help` speaks of the command the user typed, not of ./run."""

from __future__ import annotations

import subprocess
import sys


def test_demo_help_names_the_command_it_was_started_as() -> None:
    out = subprocess.run([sys.executable, "-m", "mailstate", "demo", "--help"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith("usage: mailstate demo")
    examples = out.split("examples:", 1)[1]
    assert "./run" not in examples
    assert "mailstate demo --release bookworm" in examples
