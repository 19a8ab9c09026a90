"""Check, before touching anything, that this machine can run lab hosts.

The lab needs root (network namespaces, mounts) and the Debian packages whose daemons
it runs. Failing late (half a bridge created, a host that dies with an obscure log)
costs more than one clear message with the exact command that fixes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mailstate.diagnostics import MailstateError, error

# Binary that must exist -> Debian package that ships it.
REQUIRED: dict[str, str] = {
    "/usr/sbin/sshd": "openssh-server",
    "/usr/bin/ssh-keygen": "openssh-client",
    "/usr/sbin/postfix": "postfix",
    "/usr/sbin/dovecot": "dovecot-core",
    "/usr/lib/dovecot/imap": "dovecot-imapd",
    "/usr/lib/dovecot/pop3": "dovecot-pop3d",
    "/usr/bin/php": "php-cli",
    "/usr/bin/openssl": "openssl",
    "/usr/bin/unshare": "util-linux",
    "/usr/bin/nsenter": "util-linux",
    "/usr/bin/ss": "iproute2",
    "/usr/sbin/sysctl": "procps",
    "/usr/bin/sudo": "sudo",
    "/usr/bin/setpriv": "util-linux",
    "/usr/share/roundcube/program": "roundcube-core",
    "/var/lib/dbconfig-common/sqlite3/roundcube": "roundcube-sqlite3",
}
IP_BINARIES = ("/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip")
TEST_ONLY: dict[str, str] = {"/usr/bin/nmap": "nmap"}

PRESEED = Path(__file__).with_name("debconf.preseed")
# Without recommends (roundcube-core's pull in Apache), and with the CGI SAPI of the
# machine's PHP: roundcube-core needs `php`, which apt would otherwise satisfy with
# libapache2-mod-php. The lab serves Roundcube with `php -S` (php-cli).
WEBMAIL = ("roundcube-core", "roundcube-sqlite3")


def php_cgi_package() -> str:
    """`php8.2-cgi` for the machine's PHP (from /usr/bin/php's target), else `php-cgi`."""
    name = Path(os.path.realpath("/usr/bin/php")).name
    return f"{name}-cgi" if name.startswith("php") and name != "php" else "php-cgi"


def apt_command(packages: list[str]) -> str:
    """The exact command that installs `packages` without questions."""
    wanted = set(packages)
    if wanted & set(WEBMAIL):
        wanted.add(php_cgi_package())
    return (f"debconf-set-selections {PRESEED} && DEBIAN_FRONTEND=noninteractive "
            f"apt-get install -y --no-install-recommends {' '.join(sorted(wanted))}")


def missing_packages(extra: dict[str, str] | None = None) -> list[str]:
    """Debian packages whose binaries are absent (sorted, unique)."""
    wanted = dict(REQUIRED, **(extra or {}))
    missing = {pkg for path, pkg in wanted.items() if not os.access(path, os.X_OK)}
    if not any(Path(p).exists() for p in IP_BINARIES):
        missing.add("iproute2")
    return sorted(missing)


def check(extra: dict[str, str] | None = None) -> None:
    """Raise one MailstateError if not root or a package is missing."""
    problems: list[str] = []
    fixes: list[str] = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces, bind mounts)")
        fixes.append("run it as root, e.g. `sudo .venv/bin/mailstate lab up`")
    missing = missing_packages(extra)
    if missing:
        problems.append(f"missing Debian packages: {', '.join(missing)}")
        fixes.append(apt_command(missing))
        fixes.append("(or `./run setup`, which installs everything as root)")
    if problems:
        raise error(
            "mailstate lab cannot start: " + "; ".join(problems),
            fix="\n".join(fixes),
            code="lab-preflight",
        )


def check_message(extra: dict[str, str] | None = None) -> str | None:
    """The preflight failure as text (for pytest), or None when all is fine."""
    try:
        check(extra)
    except MailstateError as exc:
        return str(exc)
    return None
