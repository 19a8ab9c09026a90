"""Live Dovecot settings the host's Dovecot 2.4 will refuse: a host upgraded in place.

Upgrading Debian 12 to 13 replaces Dovecot 2.3 by 2.4 but keeps the admin's 2.3-style
files in /etc/dovecot, and 2.4 refuses them (it does not start). A plan on such a host
must not pass silently: this walks the candidate tree (the live files with the state's
edits, so what the state manages is already written the 2.4 way) and names every line
2.4 refuses, file:line, with the 2.4 name where one exists. It reads what Dovecot itself
checks first: `dovecot_config_version` as the first setting, section names, the setting
names (rename table, then the names 2.3 knew and 2.4 does not).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailstate.formats._text import decode, split_lines
from mailstate.formats.dovecot import DovecotConfig, Section, parse_file
from mailstate.releases import dovecot_names
from mailstate.releases.dovecot_renames import UPGRADE, Rename
from mailstate.releases.dovecot_translate import find_old
from mailstate.releases.dovecot_values import OBSOLETE_PROTOCOLS

NEEDS_NAME = ("passdb", "userdb", "dict", "inet_listener", "unix_listener", "fifo_listener")
UNKNOWN_SECTIONS = {"plugin": "Dovecot 2.4 has no plugin section: plugin settings are "
                              "global settings (move them to the top level; some were "
                              "renamed)"}


@dataclass(frozen=True)
class Refused:
    """One line Dovecot 2.4 refuses."""

    file: str
    line: int
    what: str  # the setting or section as written
    reason: str
    new: str = ""  # the 2.4 spelling, when there is one


def refused_lines(config: DovecotConfig, files: dict[str, bytes]) -> list[Refused]:
    """Every line of the tree Dovecot 2.4 refuses, in file and line order."""
    found = _version_lines(config.root, files, config)
    blocked: list[Section] = []
    for section in config.sections():
        kind, _, name = section.path[-1].partition(" ")
        line = section.open.start + 1
        if kind in UNKNOWN_SECTIONS:
            found.append(Refused(section.file, line, f"{kind} {{", UNKNOWN_SECTIONS[kind]))
            blocked.append(section)
        elif kind in NEEDS_NAME and not name:
            hint = " (the driver's name)" if kind in ("passdb", "userdb") else ""
            found.append(Refused(section.file, line, f"{kind} {{", "Dovecot 2.4 needs a "
                                 f"name here: {kind} NAME {{{hint}", f"{kind} NAME {{"))
            blocked.append(section)
    for setting in config.definitions():
        inside = any(s.file == setting.file and s.open.start < setting.item.start < s.close
                     for s in blocked)
        if not inside:
            problem = _judge(setting.path, setting.item.value)
            if problem is not None:
                reason, new = problem
                found.append(Refused(setting.file, setting.item.start + 1,
                                     setting.path[-1], reason, new))
    order = {path: i for i, path in enumerate(config.files())}
    return sorted(found, key=lambda r: (order.get(r.file, len(order)), r.line))


def _version_lines(root: str, files: dict[str, bytes], config: DovecotConfig) -> list[Refused]:
    items = parse_file(split_lines(decode(files[root])), root)
    first = items[0] if items else None
    has_storage = any(s.path == ("dovecot_storage_version",) for s in config.definitions())
    if first is not None and first.kind == "setting" and first.key == "dovecot_config_version" \
            and has_storage:
        return []
    line = first.start + 1 if first is not None else 1
    return [Refused(root, line, "first setting",
                    "Dovecot 2.4 requires dovecot_config_version = 2.4.0 as the first "
                    "setting of dovecot.conf, and a dovecot_storage_version setting",
                    "dovecot_config_version")]


def _judge(path: tuple[str, ...], raw: str) -> tuple[str, str] | None:
    entry = find_old(path)
    if entry is not None:
        return _by_entry(entry, raw)
    if dovecot_names.gone_in_24(path):
        return "Dovecot 2.4 has no such setting (2.3 had it)", ""
    return None


def _by_entry(entry: Rename, raw: str) -> tuple[str, str] | None:
    if entry.kind == "value":
        words = raw.strip().strip('"').split()
        bad = [w for w in words if w in OBSOLETE_PROTOCOLS or w.startswith("$")]
        if not bad:
            return None
        return f"Dovecot 2.4 refuses {' '.join(bad)} here ({entry.note})", ""
    if entry.kind in ("rename", "split"):
        return f"Dovecot 2.4 calls it {entry.new} ({entry.note})", entry.new
    verb = "removed it" if entry.kind == "removed" else "refuses it"
    instead = f"; instead: {entry.new}" if entry.new else ""
    return f"Dovecot 2.4 {verb} ({entry.note}{instead})", entry.new


def reference() -> str:
    return UPGRADE
