"""From a host's merged variables to `HostSpec`: how to reach it and as whom.

Ansible's connection variables, with its rules: where an old and a new name are both
set, the old `ansible_ssh_*` one wins (the ssh plugin lists it last, and the last set
one counts); templates are rendered (templates.py); values are checked before anything
reaches ssh. A value that cannot be used becomes a problem of that host only (the
other hosts of a run go on): a port that is not a number, an address or user with
shell characters, a template mailstate cannot evaluate, a become method other than
sudo or a become user other than root (mailstate edits /etc/postfix and reloads
daemons: it needs root), `ansible_connection` other than ssh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailstate.diagnostics import Diagnostic, Location
from mailstate.inventory.hostnames import unsafe_address, unsafe_user
from mailstate.inventory.values import Secret, Unsafe, VarSource

ADDRESS = ("ansible_host", "ansible_ssh_host")
PORT = ("ansible_port", "ansible_ssh_port")
USER = ("ansible_user", "ansible_ssh_user")
KEY = ("ansible_private_key_file", "ansible_ssh_private_key_file")
BECOME_USER = ("ansible_become_user", "ansible_sudo_user")
BECOME_PASSWORD = ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")
PASSWORD = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
SSH_CONNECTIONS = ("ssh", "paramiko", "paramiko_ssh", "smart", "ansible.builtin.ssh",
                   "ansible.builtin.paramiko_ssh")
TRUE = ("yes", "true", "on", "1", "y", "t")


@dataclass(frozen=True)
class HostSpec:
    """How to reach one host and which desired state applies to it.

    `port`/`user` None: the inventory does not say, so ~/.ssh/config (then ssh's
    defaults) decides. `problems`: why this host cannot be used (reported when it is
    planned or connected, never stopping the other hosts); `notes`: warnings.
    """

    name: str
    address: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    known_hosts_file: str | None = None
    become: bool = False
    states: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    become_user: str | None = None
    become_method: str = "sudo"
    become_password: Secret | None = field(default=None, repr=False)
    connection: str = "ssh"
    problems: tuple[Diagnostic, ...] = ()
    notes: tuple[Diagnostic, ...] = ()


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, Unsafe) and (
        "{{" in value or "{%" in value or "{#" in value)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE
    return bool(value)


class _Builder:
    def __init__(self, name: str, variables: dict[str, Any], sources: dict[str, VarSource],
                 magic: dict[str, Any], fallback: Location) -> None:
        self.name = name
        self.vars = variables
        self.sources = sources
        self.magic = magic
        self.fallback = fallback
        self.problems: list[Diagnostic] = []
        self.notes: list[Diagnostic] = []

    def _lookup(self, key: str) -> Any:
        from mailstate.inventory.templates import MISSING

        if key in self.vars:
            return self.vars[key]
        return self.magic.get(key, MISSING)

    def where(self, key: str | None) -> Location:
        source = self.sources.get(key) if key else None
        return source.location() if source else self.fallback

    def problem(self, key: str | None, summary: str, fix: str = "") -> None:
        self.problems.append(Diagnostic("error", f"host {self.name}: {summary}",
                                        self.where(key), fix=fix, code="inventory"))

    def pick(self, names: tuple[str, ...]) -> tuple[str | None, Any]:
        """The last of `names` that is set (not null), rendered; (None, None) if none."""
        chosen = next((n for n in reversed(names) if self.vars.get(n) is not None), None)
        if chosen is None:
            return None, None
        return chosen, self.render(chosen, self.vars[chosen])

    def render(self, key: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.render(key, item) for item in value]
        if not _is_template(value):
            return value
        from mailstate.inventory.templates import Renderer, TemplateError

        try:
            return Renderer(self._lookup).render(value)
        except TemplateError as exc:
            self.problem(key, f"{key}: cannot evaluate {str(value)[:120]!r}: {exc}",
                         fix="mailstate renders {{ variable }} and | default(...) only; "
                             "write the value itself for mailstate")
            return None

    def text(self, names: tuple[str, ...], what: str) -> tuple[str | None, str | None]:
        key, value = self.pick(names)
        if value is None:
            return key, None
        if isinstance(value, Secret | dict | list | bool):
            self.problem(key, f"{key}: expected {what} (text), found "
                         f"{'a secret' if isinstance(value, Secret) else type(value).__name__}")
            return key, None
        return key, str(value)

    def port(self) -> int | None:
        key, value = self.pick(PORT)
        if value is None:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 6:
            number = int(value.strip())
        if number is None or not 1 <= number <= 65535:
            shown = value if not isinstance(value, Secret) else "***"
            self.problem(key, f"{key}: expected a port number (1-65535), found "
                         f"{str(shown)[:60]!r}", fix=f"set {key}: 22 (or another port)")
            return None
        return number

    def become(self) -> tuple[bool, str | None, str, Secret | None]:
        become = truthy(self.render("ansible_become", self.vars.get("ansible_become", False)))
        user_key, become_user = self.text(BECOME_USER, "a user name")
        method_key, method = self.text(("ansible_become_method",), "a become method")
        pass_key, password = self.pick(BECOME_PASSWORD)
        if become and method not in (None, "sudo"):
            self.problem(method_key, f"ansible_become_method: {method!r} is not supported: "
                         "mailstate becomes root with sudo",
                         fix="use ansible_become_method: sudo, or connect as root "
                             "(ansible_user: root)")
        if become and become_user not in (None, "root"):
            self.problem(user_key, f"{user_key}: {become_user!r}: mailstate edits "
                         "/etc/postfix and reloads the mail daemons, so it becomes root only",
                         fix=f"remove {user_key} (or set it to root) for mailstate")
        secret = None
        if password is not None:
            secret = password if isinstance(password, Secret) else Secret(str(password))
        del pass_key
        return become, become_user, method or "sudo", secret

    def connection(self) -> str:
        key, value = self.text(("ansible_connection",), "a connection type")
        if value is None:
            return "ssh"
        if value not in SSH_CONNECTIONS:
            hint = ("mailstate works over SSH only; for this machine point ansible_host at "
                    "127.0.0.1 with sshd running" if value == "local" else
                    "mailstate works over SSH only")
            self.problem(key, f"ansible_connection: {value!r} is not supported", fix=hint)
        return value

    def states(self) -> list[str]:
        value = self.render("mailstate_states", self.vars.get("mailstate_states") or [])
        if isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        if not isinstance(value, list) or not all(isinstance(s, str | int) for s in value):
            self.problem("mailstate_states", "mailstate_states: expected a list of state "
                         "names or paths")
            return []
        return [str(s) for s in value]


def build_host(name: str, variables: dict[str, Any], sources: dict[str, VarSource],
               magic: dict[str, Any], fallback: Location, known_hosts_base: Path) -> HostSpec:
    """The HostSpec of one host from its merged variables (see the module docstring)."""
    b = _Builder(name, variables, sources, magic, fallback)
    if any(not c.isprintable() or c.isspace() for c in name):
        b.problem(None, "the host name contains spaces or control characters")
    address_key, address = b.text(ADDRESS, "a host name or address")
    address = address if address is not None else name
    why = unsafe_address(address)
    if why:
        b.problem(address_key, f"{address_key or 'the host name'} {address[:80]!r} cannot "
                  f"be given to ssh: {why}",
                  fix="use a DNS name or IP address (set ansible_host when the inventory "
                      "name is only a label)")
    user_key, user = b.text(USER, "a user name")
    if user is not None and unsafe_user(user):
        b.problem(user_key, f"{user_key} {user[:40]!r}: {unsafe_user(user)}")
    _, key_file = b.text(KEY, "a key file path")
    _, known = b.text(("mailstate_known_hosts_file",), "a file path")
    become, become_user, method, become_password = b.become()
    if any(variables.get(k) is not None for k in PASSWORD):
        b.notes.append(Diagnostic(
            "warning", f"host {name}: ansible_password is not used: mailstate logs in with "
            "keys (ansible_ssh_private_key_file, ~/.ssh/config, the agent)",
            b.where(next(k for k in PASSWORD if variables.get(k) is not None)),
            code="inventory"))
    connection = b.connection()
    port = b.port()
    states = b.states()
    known_path = None
    if known:
        candidate = Path(known).expanduser()
        known_path = str(candidate if candidate.is_absolute() else
                         (known_hosts_base / candidate).absolute())
    return HostSpec(
        name=name, address=address, port=port, user=user,
        key_file=os.path.abspath(os.path.expanduser(key_file)) if key_file else None,
        known_hosts_file=known_path, become=become, states=states,
        vars={**variables, **magic}, become_user=become_user, become_method=method,
        become_password=become_password, connection=connection,
        problems=tuple(b.problems), notes=tuple(b.notes))
