"""What runs on a lab host right now, as `lab status` and the tests see it.

`host.sh status` prints one line per service and one per listener (from the host's own
`ss`); the release and its package versions come from the host's dpkg database, so a
mixed fleet shows at a glance which host runs Postfix 3.7 and which 3.10.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SERVICES = ("sshd", "postfix", "dovecot", "webmail")


@dataclass(frozen=True)
class HostStatus:
    """One host: whether it runs, its daemons, listening ports, release and versions."""

    name: str
    address: str
    running: bool
    mail: bool = True
    sshd: bool = False
    postfix: bool = False
    dovecot: bool = False
    ports: list[int] = field(default_factory=list)
    listeners: list[str] = field(default_factory=list)
    release: str = ""
    debian: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    webmail: bool = False

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "address": self.address, "running": self.running,
                "mail": self.mail, "sshd": self.sshd, "postfix": self.postfix,
                "dovecot": self.dovecot, "webmail": self.webmail, "ports": self.ports,
                "listeners": self.listeners, "release": self.release,
                "debian": self.debian, "versions": self.versions}


def parse_status(name: str, address: str, mail: bool, text: str, *, release: str = "",
                 debian: int = 0, versions: dict[str, str] | None = None) -> HostStatus:
    """Parse `host.sh status` output."""
    flags: dict[str, bool] = {}
    listeners: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "listen":
            listeners.append(value)
        elif key in SERVICES:
            flags[key] = value == "1"
    ports = sorted({int(lst.rsplit(":", 1)[1]) for lst in listeners if ":" in lst})
    return HostStatus(name, address, True, mail, flags.get("sshd", False),
                      flags.get("postfix", False), flags.get("dovecot", False), ports,
                      sorted(set(listeners)), release, debian, dict(versions or {}),
                      flags.get("webmail", False))
