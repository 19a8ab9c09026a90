"""Allow `python -m mailstate`."""

from mailstate.cli import entry

entry()
