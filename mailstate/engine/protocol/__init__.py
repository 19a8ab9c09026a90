"""The host scripts' line protocol as typed events: pure parsers, no I/O.

Each line a host script prints is `TAG REST`. `protocol.scripts.parse_line` turns a line
of hold.sh, swap.sh or restore.sh into one frozen event, `protocol.facts.parse_fact` a
header line of facts.sh; the engine then matches on event types instead of comparing
strings. A line that is not understood becomes `Unknown` (shown to nobody, never a
crash): the host is data. Split in two so that `plan` (facts only) does not pay for
building the apply events' classes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


def b64text(text: str) -> str:
    """Base64 from a host script, decoded (the text itself when it is not base64)."""
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


# -- shared -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a host's lock, from its `info` file (`key=value` lines)."""

    run: str = ""
    owner: str = ""
    started: str = ""
    raw: str = ""

    @classmethod
    def parse(cls, text: str) -> LockHolder:
        fields = dict(word.partition("=")[::2] for word in text.replace("\n", " ").split(" ")
                      if "=" in word)
        # owner values contain spaces ("alice@admin pid 42"): take everything up to the
        # next key
        owner = text.partition("owner=")[2].partition(" started=")[0].strip()
        return cls(fields.get("run", ""), owner, fields.get("started", ""), text.strip())

    def describe(self) -> str:
        if not (self.owner or self.run):
            return self.raw or "(the lock records no holder)"
        return f"held by {self.owner or '?'} (run {self.run or '?'}, since {self.started or '?'})"


@dataclass(frozen=True)
class Unknown:
    """A line no parser understood (ignored by the engine)."""

    line: str
