"""Users of a lab host: the release's own accounts plus the lab's login and mail users.

Numeric ids differ between releases (Debian 13's `postfix` is not Debian 12's), so every
owner a host's files get is looked up in that release's own /etc/passwd and /etc/group,
never in the machine's. The lab adds, on every host and never on the machine:
- `deploy` (sudo without a password) and `operator` (sudo with LAB_SUDO_PASSWORD), who log
  in with the lab key, for `ansible_become` tests;
- `alice`, a mail user with a password the tests know (LAB_MAIL_PASSWORD): Dovecot
  (IMAP/POP3) and Postfix SASL through Dovecot accept her through PAM, and mail to
  alice@hN.test lands in that host's /var/mail/alice;
- `carol`, a second mail user of the same kind (LAB_MAIL_PASSWORD_2), so a test can
  have one user who used a service before a change and one who meets it for the first
  time after (Roundcube keeps an account per user from the first login).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

LAB_SUDO_PASSWORD = "lab-sudo-password"
LAB_USERS = (("deploy", 2001, "NOPASSWD: ALL"), ("operator", 2002, "ALL"))
LAB_MAIL_USER = "alice"
LAB_MAIL_PASSWORD = "lab-alice-password"
LAB_MAIL_UID = 2003
# (name, uid, password) of every mail user; alice first (`Lab.mail_user`).
LAB_MAIL_USERS = ((LAB_MAIL_USER, LAB_MAIL_UID, LAB_MAIL_PASSWORD),
                  ("carol", 2004, "lab-carol-password"))
LAB_MAIL_PASSWORD_2 = LAB_MAIL_USERS[1][2]


@dataclass(frozen=True)
class Accounts:
    """Name -> id of the users and groups of one root filesystem."""

    users: dict[str, int]
    groups: dict[str, int]

    @classmethod
    def of(cls, root: Path) -> Accounts:
        return cls(_ids(root / "etc/passwd"), _ids(root / "etc/group"))

    def uid(self, name: str) -> int:
        return self.users.get(name, 0)

    def gid(self, name: str) -> int:
        return self.groups.get(name, 0)


def _ids(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in path.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            found.setdefault(fields[0], int(fields[2]))
    return found


def crypt_sha512(password: str, salt: str) -> str:
    """A `$6$` hash for /etc/shadow (the password goes to openssl on stdin, not argv)."""
    proc = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                          input=password, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def lab_account_lines() -> tuple[dict[str, str], str]:
    """({passwd|shadow|group|gshadow: lines to append}, sudoers rules) for the lab users."""
    sudo_hash = crypt_sha512(LAB_SUDO_PASSWORD, "mailstatelab")
    lines = {"passwd": "", "shadow": "", "group": "", "gshadow": ""}
    rules = ""
    for user, uid, rule in LAB_USERS:
        lines["passwd"] += f"{user}:x:{uid}:{uid}:mailstate lab:/tmp:/bin/sh\n"
        lines["shadow"] += f"{user}:{sudo_hash}:19000:0:99999:7:::\n"
        lines["group"] += f"{user}:x:{uid}:\n"
        lines["gshadow"] += f"{user}:!::\n"
        rules += f"{user} ALL=(root) {rule}\n"
    for user, uid, password in LAB_MAIL_USERS:
        mail_hash = crypt_sha512(password, f"mailstate{user}")
        lines["passwd"] += (f"{user}:x:{uid}:{uid}:mailstate lab mail user:/home/{user}:"
                            "/usr/sbin/nologin\n")
        lines["shadow"] += f"{user}:{mail_hash}:19000:0:99999:7:::\n"
        lines["group"] += f"{user}:x:{uid}:\n"
        lines["gshadow"] += f"{user}:!::\n"
    return lines, rules
