"""Which files a state may write: a path grammar, and each kind's own directory.

A state names files to write in two places: Postfix lookup tables (`postfix.maps`, keyed
by path) and Roundcube's `config.inc.php` (`roundcube.path`). Nothing else in a state is
a path mailstate writes (main.cf, master.cf and the Dovecot tree are fixed). Each kind
owns one directory: a map is a Postfix file and lives under /etc/postfix, Roundcube's
config under /etc/roundcube. A path elsewhere (`/etc/ssh/authorized_keys`, `/etc/shadow`)
is refused unless the state lists it, exactly, under the top-level `allow_paths:`; that
list is the one place a reviewer has to read to see every file outside those directories
that a state writes (state files only: inventory overrides cannot set it), and
`mailstate lint` reports each use of it. Inside /etc/postfix, Postfix's own files that
are no lookup table (dynamicmaps.cf, postfix-files, sasl/, ...) are never a map.

Every path must also be plain: absolute, normalised (no `.`, `..`, `//` or trailing
`/`), made of letters, digits and `. _ + @ -` only, so no glob, quote, blank, shell or
control character ever reaches a host script or `postmap TYPE:PATH`.
"""

from __future__ import annotations

import re

from mailstate.formats._text import bad_char

POSTFIX_DIR = "/etc/postfix"
ROUNDCUBE_DIR = "/etc/roundcube"
DOVECOT_DIR = "/etc/dovecot"
# files a state manages by other means: a map must never be one of them
POSTFIX_OWN_FILES = frozenset({f"{POSTFIX_DIR}/main.cf", f"{POSTFIX_DIR}/master.cf"})
# Postfix's own files in its config dir that are not lookup tables, and never a map:
# dynamicmaps.cf (and .d/) names shared libraries Postfix loads for a table type,
# postfix-files (and .d/) the owners and modes `postfix set-permissions` applies, sasl/
# Cyrus SASL's application configs; the rest are the package's install scripts/data
POSTFIX_SYSTEM_FILES = frozenset(f"{POSTFIX_DIR}/{name}" for name in (
    "dynamicmaps.cf", "postfix-files", "main.cf.proto", "master.cf.proto", "makedefs.out",
    "post-install", "postfix-script"))
POSTFIX_SYSTEM_DIRS = tuple(f"{POSTFIX_DIR}/{name}" for name in (
    "dynamicmaps.cf.d", "postfix-files.d", "sasl"))
# the files `postmap TYPE:PATH` builds next to a map's source, by indexed type
MAP_INDEX_SUFFIXES = {"hash": (".db",), "btree": (".db",), "lmdb": (".lmdb",),
                      "cdb": (".cdb",), "dbm": (".dir", ".pag"), "sdbm": (".dir", ".pag")}
MAP_SUFFIX = {kind: suffixes[0] for kind, suffixes in MAP_INDEX_SUFFIXES.items()}
MAX_PATH = 1024
_PART = r"[A-Za-z0-9._+@-]{1,255}"
_PATH = re.compile(rf"(/{_PART})+")
ALLOW_FIX = ("if this file really must be written, list its exact path under "
             "'allow_paths:' at the top of a state file (reviewed; lint reports it)")


def path_problem(path: str) -> str | None:
    """Why `path` is not a plain absolute file path, or None."""
    bad = bad_char(path)
    if bad:
        return f"a file path without control characters ({bad})"
    if not path.startswith("/") or path.endswith("/"):
        return "an absolute path to a file, such as /etc/postfix/tls_policy"
    if len(path) > MAX_PATH:
        return f"a file path of at most {MAX_PATH} characters"
    if not _PATH.fullmatch(path):
        return ("a file path of letters, digits and '. _ + @ -' between single '/' (no "
                "blanks, quotes, glob or shell characters)")
    if any(part in (".", "..") for part in path.split("/")):
        return "a file path without '.' or '..' parts"
    return None


def is_under(path: str, directory: str) -> bool:
    return path.startswith(directory + "/")


def postfix_system_file(path: str) -> bool:
    """One of Postfix's own files that is not a lookup table (`POSTFIX_SYSTEM_FILES`)."""
    return path in POSTFIX_SYSTEM_FILES or any(is_under(path, d) for d in POSTFIX_SYSTEM_DIRS)


def map_path_problem(path: str) -> str | None:
    """Why `path` cannot be a Postfix lookup table's source (its directory aside:
    `owner_problem`), or None."""
    problem = path_problem(path)
    if problem:
        return problem
    if path in POSTFIX_OWN_FILES:
        return (f"a lookup table, not {path} (mailstate edits it through postfix.main or "
                "postfix.master)")
    if postfix_system_file(path):
        return (f"a lookup table, not {path}: one of Postfix's own files (table types, "
                "permissions, SASL or install data), which no state writes")
    return None


def roundcube_path_problem(path: str, default: str) -> str | None:
    """Why `path` cannot be Roundcube's config file (its directory aside), or None."""
    problem = path_problem(path)
    if problem:
        return problem.replace("/etc/postfix/tls_policy", default)
    if not path.endswith(".php"):
        return f"a PHP file that Roundcube includes, ending in .php, such as {default}"
    return None


def owner_problem(path: str, directory: str, what: str,
                  allowed: frozenset[str] | set[str]) -> str | None:
    """Why `what` may not be written at `path` (outside `directory`, not allowed)."""
    if is_under(path, directory) or path in allowed:
        return None
    return f"{what} under {directory}/ (or a path listed under allow_paths)"
