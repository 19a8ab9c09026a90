"""Root filesystems of other Debian releases, built once with debootstrap and cached.

The machine's own release (Debian 12 here) runs lab hosts from bind-mounted copies of its
own trees. Another release (Debian 13: Postfix 3.10, Dovecot 2.4) needs its own packages:
`debootstrap` builds a minimal root filesystem with the mail stack, then a second stage
installs Debian's Roundcube with SQLite inside it (chroot apt-get, the same debconf
answers as this machine's, no web server). Built once (about 3 minutes, 480 MB), cached
under /var/cache/mailstate/rootfs keyed by release, package lists and recipe, so CI and
later runs reuse it. Hosts then run on a copy-on-write overlay of it, and tests
that only need a release's tools (`doveconf` 2.4, `postconf -d` of 3.10) run them in an
overlay with `chroot`, never writing into the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mailstate.diagnostics import error

CACHE_ROOT = Path(os.environ.get("MAILSTATE_ROOTFS_CACHE", "/var/cache/mailstate/rootfs"))
MIRROR = os.environ.get("MAILSTATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")

# Debian codename -> major version. The supported releases of mailstate.
RELEASES: dict[str, int] = {"bookworm": 12, "trixie": 13}
ALIASES: dict[str, str] = {"debian12": "bookworm", "12": "bookworm",
                           "debian13": "trixie", "13": "trixie"}

# What a lab host of any release runs (the same set the machine installs for release 12).
PACKAGES = ("openssh-server", "postfix", "dovecot-imapd", "dovecot-pop3d", "php-cli",
            "iproute2", "procps", "openssl", "ca-certificates", "python3", "sudo")
# Second stage, with `apt-get --no-install-recommends` (recommends pull in Apache), plus
# the CGI SAPI of the release's PHP: roundcube-core needs `php`, which any SAPI satisfies,
# and apt would otherwise pick libapache2-mod-php. The lab serves Roundcube with `php -S`.
WEBMAIL_PACKAGES = ("roundcube-core", "roundcube-sqlite3")
PRESEED = Path(__file__).with_name("debconf.preseed")
RECIPE = 2  # bump when the build steps change, so caches are rebuilt


def release_name(name: str) -> str:
    """`trixie`, `debian13` or `13` -> `trixie`; anything else is a clear error."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in RELEASES:
        raise error(f"unknown Debian release {name!r}",
                    fix="supported: " + ", ".join(f"{n} (Debian {v})" for n, v in
                                                  RELEASES.items()))
    return key


def native_release() -> str | None:
    """The machine's own release codename (from /etc/os-release), if it is supported."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            codename = value.strip().strip('"')
            return codename if codename in RELEASES else None
    return None


def rootfs_dir(release: str) -> Path:
    """Where the cached root filesystem of `release` lives (built or not)."""
    release = release_name(release)
    return CACHE_ROOT / f"{release}-{_recipe_key(release)}"


@functools.lru_cache(maxsize=8)
def _recipe_key(release: str) -> str:
    """What the build depends on; `lab status` asks for it on every call."""
    recipe = (release, PACKAGES, WEBMAIL_PACKAGES, PRESEED.read_text(), RECIPE, MIRROR)
    return hashlib.sha256(repr(recipe).encode()).hexdigest()[:10]


def ensure_rootfs(release: str) -> Path:
    """The root filesystem of `release`, built by debootstrap on first use (as root)."""
    target = rootfs_dir(release)
    if (target / ".mailstate-complete").exists():
        return target
    if shutil.which("debootstrap") is None:
        raise error(f"building a Debian {RELEASES[release_name(release)]} root filesystem "
                    "needs debootstrap", fix="apt-get install -y debootstrap (or ./run setup)")
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait and reuse it
        if (target / ".mailstate-complete").exists():
            return target
        _build(release_name(release), target)
    return target


def _build(release: str, target: Path) -> None:
    work = target.with_name(target.name + ".build")
    if work.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)
    log = CACHE_ROOT / f"{target.name}.log"
    with open(log, "wb") as out:
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
             release, str(work), MIRROR],
            stdout=out, stderr=subprocess.STDOUT, check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if proc.returncode != 0:
        raise error(f"debootstrap of {release} failed (exit {proc.returncode})",
                    file=str(log), fix=f"read {log}; the mirror is {MIRROR} "
                    "(MAILSTATE_DEBIAN_MIRROR changes it)")
    # Package scripts in a later install step must not try to start daemons.
    policy = work / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    _install_webmail(release, work, log)
    (work / ".mailstate-complete").write_text(f"{release}\n")
    if target.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(target)], check=False)
    work.rename(target)


# Runs as `sh -c SCRIPT - ROOT PACKAGES...` in a private mount namespace: /proc for the
# package scripts vanishes with the namespace, so a failed build leaves no mount behind.
_STAGE2 = r"""
set -eu
root=$1; shift
mount -t proc proc "$root/proc"
chroot "$root" debconf-set-selections  # the answers arrive on stdin
php=$(chroot "$root" php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;')
chroot "$root" apt-get install -y -q --no-install-recommends "$@" "php$php-cgi"
chroot "$root" apt-get clean
# Debian 13's postinst leaves the queue directories to Postfix's first start; make them
# now (what that start's integrity check does), so every host can start without it.
chroot "$root" postfix check
"""


def _install_webmail(release: str, work: Path, log: Path) -> None:
    """Stage 2: Debian's Roundcube with SQLite (dbconfig-common), as on a real host."""
    with open(log, "ab") as out, PRESEED.open("rb") as answers:
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _STAGE2, "-",
             str(work), *WEBMAIL_PACKAGES],
            stdin=answers, stdout=out, stderr=subprocess.STDOUT, check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                 "DEBIAN_FRONTEND": "noninteractive"})
    if proc.returncode != 0:
        raise error(f"installing Roundcube into the {release} root filesystem failed "
                    f"(exit {proc.returncode})", file=str(log),
                    fix=f"read {log}; the mirror is {MIRROR}")


@contextlib.contextmanager
def overlay(release: str) -> Iterator[Path]:
    """A throw-away writable view of the cached root filesystem (overlayfs, as root).

    For running one release's own tools on test input (`chroot ROOT doveconf -c ...`):
    writes go to a temporary upper dir and vanish on exit; the cache stays pristine.
    """
    lower = ensure_rootfs(release)
    with tempfile.TemporaryDirectory(prefix="mailstate-overlay-", dir="/var/tmp") as tmp:
        upper, work, merged = (Path(tmp) / n for n in ("upper", "work", "root"))
        for d in (upper, work, merged):
            d.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)],
                       check=True, capture_output=True)
        try:
            yield merged
        finally:
            subprocess.run(["umount", "-l", str(merged)], check=False, capture_output=True)


def chroot_run(root: Path, argv: list[str], *, input: bytes | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run a release's own binary inside `root` (an `overlay()`), output captured."""
    return subprocess.run(["chroot", str(root), *argv], input=input, capture_output=True,
                          timeout=timeout, check=False,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
