"""The releases mailstate supports, and how a package version maps onto one.

A host is judged by its Postfix and Dovecot *series* ("3.7", "2.4"): the settings a
program understands change between series, not between point releases. Anything outside
the supported series is refused by name instead of guessed at: a config written for the
wrong version is what takes a mail server down.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mailstate.diagnostics import Diagnostic, Location, MailstateError


class Target(NamedTuple):  # a NamedTuple: ~4x cheaper to define than a dataclass at import
    """What to write for: a Postfix and a Dovecot series (None: that part is not judged)."""

    postfix: str | None
    dovecot: str | None
    name: str = ""  # "Debian 13" for a named release, else the versions

    def describe(self) -> str:
        parts = [f"Postfix {self.postfix}" if self.postfix else "",
                 f"Dovecot {self.dovecot}" if self.dovecot else ""]
        text = ", ".join(p for p in parts if p)
        return f"{self.name} ({text})" if self.name else text


# Debian codename -> the series it ships. The supported releases of mailstate.
RELEASES: dict[str, Target] = {
    "bookworm": Target("3.7", "2.3", "Debian 12"),
    "trixie": Target("3.10", "2.4", "Debian 13"),
}
DEBIAN = {codename: target.name for codename, target in RELEASES.items()}
POSTFIX_SERIES = tuple(t.postfix for t in RELEASES.values() if t.postfix)
DOVECOT_SERIES = tuple(t.dovecot for t in RELEASES.values() if t.dovecot)
_ALIASES = {"debian12": "bookworm", "12": "bookworm", "debian13": "trixie", "13": "trixie"}
SUPPORTED_TEXT = "; ".join(t.describe() for t in RELEASES.values())


def series_of(version: str) -> str | None:
    """`3.7.11-0+deb12u1` -> `3.7`, `1:2.4.1+dfsg1-6+deb13u7` -> `2.4`, `2.3.19.1 (9b5..)`
    -> `2.3`; None when the text holds no version."""
    text = version.strip()
    text = text.split(":", 1)[1] if re.match(r"\d+:", text) else text  # dpkg epoch
    match = re.match(r"(\d+)\.(\d+)", text)
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def parse_target(spec: str) -> Target:
    """`debian13`, `trixie`, `13`, or `postfix=3.10,dovecot=2.4` (either part alone)."""
    key = spec.strip().lower()
    key = _ALIASES.get(key, key)
    if key in RELEASES:
        return RELEASES[key]
    parts: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in key.split(","))):
        program, sep, version = item.partition("=")
        if not sep or program not in ("postfix", "dovecot") or program in parts:
            raise _bad_target(spec)
        parts[program] = version.strip()
    if not parts:
        raise _bad_target(spec)
    postfix, dovecot = parts.get("postfix"), parts.get("dovecot")
    if postfix is not None:
        postfix = _supported("postfix", postfix, Location("--target"))
    if dovecot is not None:
        dovecot = _supported("dovecot", dovecot, Location("--target"))
    return Target(postfix, dovecot)


def _bad_target(spec: str) -> MailstateError:
    return MailstateError(Diagnostic(
        "error", f"--target {spec!r}: expected a release or program versions",
        Location("--target"), code="bad-target",
        fix="debian12, debian13 (or bookworm, trixie), or postfix=3.10,dovecot=2.4"))


def _supported(program: str, version: str, where: Location | None, host: str = "") -> str:
    """The series of `version` if mailstate supports it; a refusal naming it otherwise."""
    known = POSTFIX_SERIES if program == "postfix" else DOVECOT_SERIES
    name = program.capitalize()
    series = series_of(version)
    if series in known:
        return series
    who = f"{host}: " if host else ""
    what = f"{name} {version}" if series else f"{name} version {version!r}"
    raise MailstateError(Diagnostic(
        "error", f"{who}{what} is not a version mailstate supports", where,
        detail=f"mailstate writes {name} configuration for " + ", ".join(known) +
        " only; a configuration written for another version may stop the server",
        code="unsupported-version",
        fix=f"supported releases: {SUPPORTED_TEXT}" + (
            f"; upgrade the host, or leave {name} out of its states" if host else "")))


def host_target(versions: dict[str, str], postfix: bool, dovecot: bool,
                host: str = "") -> Target:
    """The target a host's package versions mean, for the programs its state manages.

    A program the state does not manage is not judged (it may not even be installed).
    """
    found: dict[str, str | None] = {"postfix": None, "dovecot": None}
    where = Location(host) if host else None
    who = f"{host}: " if host else ""
    for program, wanted in (("postfix", postfix), ("dovecot", dovecot)):
        if not wanted:
            continue
        version = (versions.get(program) or "").strip()
        if not version:
            raise MailstateError(Diagnostic(
                "error", f"{who}the {program.capitalize()} version is unknown "
                "(no package version in the host's facts)", where,
                code="unsupported-version",
                fix=f"install {'postfix' if program == 'postfix' else 'dovecot-core'} "
                    f"(dpkg must list it), or leave {program.capitalize()} out of the "
                    f"host's states; supported releases: {SUPPORTED_TEXT}"))
        found[program] = _supported(program, version, where, host)
    for target in RELEASES.values():
        if (found["postfix"] in (None, target.postfix)
                and found["dovecot"] in (None, target.dovecot)):
            return Target(found["postfix"], found["dovecot"], target.name)
    return Target(found["postfix"], found["dovecot"])
