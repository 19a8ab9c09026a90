"""Header lines of facts.sh (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from mailstate.engine.protocol import LockHolder, Unknown, b64text

FileKind = Literal["link", "broken-link", "directory", "block-device", "char-device", "fifo",
                   "socket", "other"]
FILE_KIND_TEXT: dict[FileKind, str] = {
    "link": "a symbolic link", "broken-link": "a symbolic link to nothing",
    "directory": "a directory", "block-device": "a block device",
    "char-device": "a character device", "fifo": "a FIFO (named pipe)", "socket": "a socket",
    "other": "not a regular file",
}


# -- the header of facts.sh ------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    """V PACKAGE VERSION: an installed package."""

    package: str
    version: str


@dataclass(frozen=True)
class LockFound:
    """K BASE64(INFO): the host's lock exists; who took it."""

    holder: LockHolder


@dataclass(frozen=True)
class LockProcessAlive:
    """A holder|worker: that process of the lock still runs."""

    role: str  # holder | worker


@dataclass(frozen=True)
class PendingActions:
    """The actions of a swap that started and never finished (one action a line)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class FileTime:
    """S MTIME PATH: a file's modification time (maps and their databases)."""

    path: str
    mtime: int


@dataclass(frozen=True)
class NotRegular:
    """A path facts did not read because it is not a regular file."""

    path: str
    kind: FileKind
    target: str = ""  # for a link: where it points

    def describe(self) -> str:
        text = FILE_KIND_TEXT[self.kind]
        return f"{text} to {self.target}" if self.target else text


@dataclass(frozen=True)
class ThroughLink:
    """A Dovecot config file read through a link (L), or a dir reached through one (D)."""

    path: str
    target: str
    is_dir: bool


@dataclass(frozen=True)
class CertificateLine:
    """C PATH<tab>LINE: one line of the first PEM certificate block of a requested
    certificate file (the host sends nothing else of that file)."""

    path: str
    line: str


FactEvent = (Version | LockFound | LockProcessAlive | PendingActions | FileTime | NotRegular
             | ThroughLink | CertificateLine | Unknown)


def _parse_not_regular(rest: str, line: str) -> FactEvent:
    kind, _, where = rest.partition(" ")
    path, _, target = where.partition("\t")
    if kind not in get_args(FileKind) or not path:
        return Unknown(line)
    file_kind: FileKind = kind  # type: ignore[assignment]  # checked just above
    return NotRegular(path, file_kind, target)


def parse_fact(line: str) -> FactEvent:
    """One header line of facts.sh (before its `TAR` line)."""
    tag, _, rest = line.partition(" ")
    match tag:
        case "V":
            name, _, version = rest.partition(" ")
            return Version(name, version.strip())
        case "K":
            return LockFound(LockHolder.parse(b64text(rest)))
        case "A":
            return LockProcessAlive(rest)
        case "W":
            return PendingActions(tuple(a for a in b64text(rest).split("\n") if a.strip()))
        case "S":
            stamp, _, path = rest.partition(" ")
            return FileTime(path, int(stamp)) if stamp.isdigit() else Unknown(line)
        case "N":
            return _parse_not_regular(rest, line)
        case "L" | "D":
            path, _, target = rest.partition("\t")
            return ThroughLink(path, target, tag == "D")
        case "C":
            path, tab, text = rest.partition("\t")
            return CertificateLine(path, text) if tab else Unknown(line)
    return Unknown(line)
