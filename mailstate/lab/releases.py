"""Which Debian release a lab host runs, and where that release's files come from.

A real fleet mixes Debian 12 and 13 hosts, so the lab does too. The machine's own release
runs "native" hosts: bind-mounted copies of the machine's trees, the cheapest host there
is. Any other supported release runs from the cached root filesystem `rootfs` builds,
chrooted inside the host's namespaces. Both kinds look the same from outside (SSH, ports,
files), and everything that differs between them is decided here, from one `HostRelease`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mailstate.diagnostics import error
from mailstate.lab import rootfs

# What `lab status` reports per host: Debian package -> the name shown.
REPORTED_PACKAGES = {"postfix": "postfix", "dovecot-core": "dovecot",
                     "openssh-server": "openssh", "roundcube-core": "roundcube"}


@dataclass(frozen=True)
class HostRelease:
    """A release as the lab runs it: natively, or chrooted into `source`."""

    name: str        # Debian codename, e.g. "trixie"
    version: int     # Debian major version, e.g. 13 (0 for an unsupported machine)
    native: bool     # True: the machine's own trees; False: a chroot into `source`
    source: Path     # the root its packages live in: "/" or the cached rootfs

    @property
    def label(self) -> str:
        return f"{self.name} ({self.version})" if self.version else self.name


def machine_codename() -> str:
    """The machine's VERSION_CODENAME ("native" when /etc/os-release does not say)."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "native"
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME" and value.strip().strip('"'):
            return value.strip().strip('"')
    return "native"


def native() -> HostRelease:
    name = machine_codename()
    return HostRelease(name, rootfs.RELEASES.get(name, 0), True, Path("/"))


def resolve(name: str | None, *, build: bool = True) -> HostRelease:
    """`None`, a codename or an alias -> the HostRelease to run (rootfs built if needed)."""
    if name is None or name in ("native", machine_codename()):
        return native()
    codename = rootfs.release_name(name)
    if codename == machine_codename():
        return native()
    source = rootfs.ensure_rootfs(codename) if build else rootfs.rootfs_dir(codename)
    return HostRelease(codename, rootfs.RELEASES[codename], False, source)


def parse_spec(spec: str | Sequence[str] | None, count: int | None) -> list[str | None]:
    """One release per host h1..hN from `--release`.

    `None` -> keep what runs, native for new hosts; `trixie` -> every host;
    `bookworm,bookworm,trixie` (or a list) -> one per host, and the count must agree.
    Names are checked here (aliases resolved), before anything is started.
    """
    if spec is None:
        return [None] * (3 if count is None else count)
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if any(not n for n in names) or not names:
        raise error(f"--release {spec!r}: empty release name",
                    fix="one name (trixie) or one per host (bookworm,bookworm,trixie)")
    names = [rootfs.release_name(n) for n in names]
    if len(names) == 1:
        return [names[0]] * (3 if count is None else count)
    if count is not None and count != len(names):
        raise error(f"--release names {len(names)} releases for {count} hosts",
                    fix=f"give one release for all hosts, or exactly {count} "
                        "(one per host, in order h1, h2, ...)")
    return list(names)


_VERSION_CACHE: dict[tuple[str, int, int], dict[str, str]] = {}


def upstream_version(debian_version: str) -> str:
    """`1:2.4.1+dfsg1-6+deb13u7` -> `2.4.1`: what the software's own docs call it."""
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    return version.split("+", 1)[0].split("~", 1)[0]


def package_versions(root: Path) -> dict[str, str]:
    """Upstream versions of REPORTED_PACKAGES installed under `root` (dpkg's database).

    Read from the file, not `dpkg-query` (a process per host per `lab status`), and
    cached while the database is unchanged.
    """
    status = root / "var/lib/dpkg/status"
    try:
        st = os.stat(status)
    except OSError:
        return {}
    key = (str(status), st.st_ino, st.st_mtime_ns)
    if key not in _VERSION_CACHE:
        _VERSION_CACHE[key] = _parse_status(status.read_text(errors="replace"))
    return dict(_VERSION_CACHE[key])


def _parse_status(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(": ")
            if sep and not line.startswith(" "):
                fields[key] = value
        shown = REPORTED_PACKAGES.get(fields.get("Package", ""))
        if shown and "installed" in fields.get("Status", "").split() \
                and "Version" in fields:
            found[shown] = upstream_version(fields["Version"])
    return found
