"""A state's Dovecot settings, written the way the host's Dovecot series understands them.

A state says its intent once, in either spelling (`disable_plaintext_auth: yes` or
`auth_allow_cleartext: no`, `ssl_cert: </p` or `ssl_server_cert_file: /p`). For each
host, `translate` turns the settings into that host's spelling using the rename table
(`dovecot_renames`), removes the other spelling of a translated setting from the live
files (a host upgraded in place still has it), and refuses, with the right name and the
reason, what has no equivalent on that version. The engine writes the result; nothing
else about the state changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from mailstate.diagnostics import Severity
from mailstate.releases import dovecot_names
from mailstate.releases.dovecot_renames import ENTRIES, Rename
from mailstate.releases.dovecot_values import (
    LOCATION_SETTINGS,
    TRANSFORMS,
    Untranslatable,
    join_location,
    split_location,
)

Path = tuple[str, ...]
Settings = dict[Path, "str | None"]
# Sections whose settings are not global settings (a global entry does not match inside).
STRUCTURED = ("service", "inet_listener", "unix_listener", "fifo_listener", "passdb",
              "userdb", "namespace", "mailbox", "plugin", "dict")


class Problem(NamedTuple):
    """Something about one state setting on one Dovecot series."""

    path: Path  # the setting as the state wrote it
    severity: Severity
    message: str
    fix: str = ""
    reference: str = ""


class Translation:
    """What to write for one series (None = remove), what is refused, what was rewritten."""

    def __init__(self) -> None:
        self.settings: Settings = {}
        self.problems: list[Problem] = []  # errors and warnings
        self.notes: list[Problem] = []  # info: what was rewritten


def show(path: Path) -> str:
    """`service imap-login { inet_listener imaps { address } }` as a short path."""
    return "/".join(path)


def _kind(section: str) -> str:
    return section.partition(" ")[0]


def _global(path: Path) -> bool:
    return not any(_kind(s) in STRUCTURED for s in path[:-1])


def _spelled(path: Path, spelling: str) -> bool:
    """Whether `path` is the setting named by a table spelling ("name", "type/name")."""
    section, _, name = spelling.rpartition("/")
    if path[-1] != name:
        return False
    if not section:
        return _global(path)
    return len(path) > 1 and _kind(path[-2]) == section


def _by_last_name(spelling: Callable[[Rename], str], kinds: tuple[str, ...]
                  ) -> dict[str, list[Rename]]:
    index: dict[str, list[Rename]] = {}
    for entry in ENTRIES:
        if entry.kind in kinds:
            index.setdefault(spelling(entry).rpartition("/")[2], []).append(entry)
    return index


_OLD = _by_last_name(lambda e: e.old, ("rename", "split", "value", "changed", "removed"))
_NEW = _by_last_name(lambda e: e.new, ("rename",))


def find_old(path: Path) -> Rename | None:
    """The table entry whose 2.3 spelling is this path (settings, not sections)."""
    return next((e for e in _OLD.get(path[-1], ()) if _spelled(path, e.old)), None)


def find_new(path: Path) -> Rename | None:
    """The rename whose 2.4 spelling is this path."""
    return next((e for e in _NEW.get(path[-1], ()) if _spelled(path, e.new)), None)


def translate(settings: Mapping[Path, str | None], series: str) -> Translation:
    """The settings for a host running Dovecot `series` ("2.3" or "2.4")."""
    out = Translation()
    origin: dict[Path, Path] = {}
    if series == "2.4":
        _to_24(settings, out, origin)
    else:
        _to_23(settings, out, origin)
    _check_names(out, origin, series)
    return out


# ---- to 2.4 -----------------------------------------------------------------------------

def _restructure_24(path: Path, settings: Mapping[Path, str | None],
                    out: Translation) -> Path | None:
    """Unnamed passdb/userdb get their driver's name; plugin settings become global."""
    parts: list[str] = []
    for i, section in enumerate(path[:-1]):
        if section in ("passdb", "userdb"):
            driver = settings.get((*path[:i], section, "driver"))
            if not driver:
                out.problems.append(Problem(
                    path, "error", f"{show(path)}: Dovecot 2.4 needs a name for every "
                    f"{section} section and this one has no driver to name it after",
                    fix=f"write it as '{section} NAME' with driver: NAME", reference=_ref()))
                return None
            parts.append(f"{section} {driver}")
        elif _kind(section) == "plugin":
            continue
        else:
            parts.append(section)
    return (*parts, path[-1])


def _to_24(settings: Mapping[Path, str | None], out: Translation,
           origin: dict[Path, Path]) -> None:
    for path, value in settings.items():
        target = _restructure_24(path, settings, out)
        if target is None:
            continue
        entry = find_old(path)
        if target != path and (entry is None or entry.kind not in ("changed", "removed")):
            out.notes.append(Problem(path, "info", f"{show(path)} is written as "
                                     f"{show(target)} for Dovecot 2.4"))
        if entry is None or entry.kind == "section":
            _put(out, origin, path, target, value)
        elif entry.kind in ("changed", "removed"):
            out.problems.append(_refusal(path, entry))
        elif entry.kind == "split":
            _split(out, origin, path, target, value)
        else:
            _rename(out, origin, path, target, value, entry, entry.new_name, entry.to_24, "2.4")


def _split(out: Translation, origin: dict[Path, Path], path: Path, target: Path,
           value: str | None) -> None:
    base = target[:-1]
    try:
        parts = split_location(value) if value is not None else {}
    except Untranslatable as exc:
        out.problems.append(Problem(path, "error", f"{show(path)}: cannot be written for "
                                    f"Dovecot 2.4: {exc}", fix="write mail_driver, "
                                    "mail_path, ... yourself", reference=_ref()))
        return
    for name in LOCATION_SETTINGS:
        _put(out, origin, path, (*base, name), parts.get(name))
    _put(out, origin, path, target, None)  # the 2.3 line goes (an upgraded host has it)
    out.notes.append(Problem(path, "info", f"{show(path)} is written as "
                             + ", ".join(parts) + " for Dovecot 2.4"))


# ---- to 2.3 -----------------------------------------------------------------------------

def _to_23(settings: Mapping[Path, str | None], out: Translation,
           origin: dict[Path, Path]) -> None:
    locations: dict[Path, dict[str, str]] = {}
    for path, value in settings.items():
        if len(path) == 2 and path[0] == "protocols":  # 2.4's list block
            out.problems.append(Problem(
                path, "error", f"{show(path)}: Dovecot 2.3 has no protocols list block "
                "(2.4's protocols { NAME = yes })", fix="for Dovecot 2.3 hosts write the "
                "whole list (protocols: imap pop3 lmtp) or leave it to Debian's "
                "protocols.d"))
            continue
        if path[-1] in LOCATION_SETTINGS and (_global(path) or _kind(path[-2]) == "namespace"):
            if value is not None:
                locations.setdefault(path[:-1], {})[path[-1]] = value
            _put(out, origin, path, path, None)
            continue
        entry = find_new(path)
        if entry is not None:
            _rename(out, origin, path, path, value, entry, entry.old_name, entry.to_23, "2.3")
        elif (old := find_old(path)) is not None and old.kind == "value":
            _rename(out, origin, path, path, value, old, old.old_name, old.to_23, "2.3")
        else:
            _put(out, origin, path, path, value)
        _name_passdb_driver(path, settings, out, origin)
    for base, parts in locations.items():
        name = "location" if base and _kind(base[-1]) == "namespace" else "mail_location"
        source = (*base, "mail_driver")
        try:
            _put(out, origin, source, (*base, name), join_location(parts))
        except Untranslatable as exc:
            out.problems.append(Problem(source, "error", f"{show(source)}: cannot be written "
                                        f"for Dovecot 2.3: {exc}", reference=_ref()))
            continue
        out.notes.append(Problem(source, "info", ", ".join(parts) + f" are written as "
                                 f"{show((*base, name))} for Dovecot 2.3"))


def _name_passdb_driver(path: Path, settings: Mapping[Path, str | None], out: Translation,
                        origin: dict[Path, Path]) -> None:
    """`passdb pam { ... }` without a driver means driver pam in 2.4; say so to 2.3."""
    for i, section in enumerate(path[:-1]):
        kind, _, name = section.partition(" ")
        driver = (*path[:i + 1], "driver")
        if kind in ("passdb", "userdb") and name and driver not in settings \
                and driver not in out.settings:
            _put(out, origin, driver, driver, name)


# ---- shared -----------------------------------------------------------------------------

def _rename(out: Translation, origin: dict[Path, Path], path: Path, target: Path,
            value: str | None, entry: Rename, name: str, transform: str,
            series: str) -> None:
    new_path = (*target[:-1], name)
    if value is not None:
        try:
            value = TRANSFORMS[transform](value)
        except Untranslatable as exc:
            out.problems.append(Problem(path, "error", f"{show(path)}: cannot be written "
                                        f"as {name} for Dovecot {series}: {exc}",
                                        reference=entry.reference))
            return
    _put(out, origin, path, new_path, value)
    if new_path != target:
        _put(out, origin, path, target, None)  # the other spelling goes
        out.notes.append(Problem(path, "info", f"{show(path)} is written as {name} for "
                                 f"Dovecot {series} ({entry.note})", reference=entry.reference))


def _put(out: Translation, origin: dict[Path, Path], source: Path, target: Path,
         value: str | None) -> None:
    if target in out.settings and out.settings[target] != value:
        if value is None:
            return  # a removal of the other spelling never overrides a value
        if out.settings[target] is not None:
            out.problems.append(Problem(
                source, "error", f"{show(source)} and {show(origin[target])} are the same "
                f"Dovecot setting ({show(target)}) with different values",
                fix="keep one of the two spellings"))
            return
    out.settings[target] = value
    origin[target] = source


def _refusal(path: Path, entry: Rename) -> Problem:
    instead = f"; instead: {entry.new}" if entry.new else ""
    return Problem(path, "error", f"{show(path)}: Dovecot 2.4 does not accept {entry.old_name} "
                   f"({entry.note})", fix=f"leave it out for Dovecot 2.4 hosts{instead}",
                   reference=entry.reference)


def _check_names(out: Translation, origin: dict[Path, Path], series: str) -> None:
    """Settings the host's version does not know, beyond the table (names tables)."""
    known = dovecot_names.names(series)
    for path, value in out.settings.items():
        source = origin.get(path, path)
        if value is None or find_old(source) is not None or find_new(source) is not None:
            continue
        if series == "2.4" and dovecot_names.gone_in_24(path):
            out.problems.append(Problem(
                source, "error", f"{show(source)}: Dovecot 2.4 has no such setting "
                f"(2.3 had it; gone in 2.4)", fix="leave it out for Dovecot 2.4 hosts",
                reference=_ref()))
        elif known.knows(path) is False:
            newer = series == "2.3" and dovecot_names.names("2.4").knows(path)
            out.problems.append(Problem(
                source, "warning", f"{show(source)}: Dovecot {known.version} does not list "
                "this setting" + (" (it is new in 2.4)" if newer else ""),
                fix="check the name; the host's doveconf decides when apply validates"))


def _ref() -> str:
    from mailstate.releases.dovecot_renames import UPGRADE

    return UPGRADE
