"""SSH transport on paramiko: strict host keys, ~/.ssh/config, ProxyJump, sudo.

Why not `SSHClient.exec_command` as-is: paramiko does not set TCP_NODELAY, and every channel
then waits ~40 ms on Nagle + delayed ACK. We open the socket ourselves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Before paramiko, which imports invoke at load time for `Match exec` only.
import mailstate.transport.lazy_invoke  # noqa: F401

# isort: split
import paramiko

from mailstate.diagnostics import MailstateError, error
from mailstate.transport.base import CommandTimeout, LineReader, Result

if TYPE_CHECKING:
    from mailstate.inventory import HostSpec

# paramiko logs transport errors through `logging`; mailstate reports them itself, as
# diagnostics, so keep Python's last-resort handler from printing them a second time.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

STDIN_MARK = "__MAILSTATE_STDIN__"
_KEY_CACHE: dict[str, paramiko.PKey] = {}
_KNOWN_HOSTS: dict[str, tuple[int, paramiko.HostKeys]] = {}
_KEY_LOCK = threading.Lock()


@dataclass
class SshOptions:
    """Run-wide SSH settings (from the command line)."""

    accept_new: bool = False
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    become_password: str | None = field(default=None, repr=False)
    ssh_config_path: Path = field(default_factory=lambda: Path("~/.ssh/config").expanduser())


@dataclass(frozen=True)
class Endpoint:
    """Where to connect, after inventory values and ~/.ssh/config are combined."""

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: tuple[str, ...]
    proxy_jump: str | None


MAX_KEY_BYTES = 1024 * 1024  # an SSH private key is a few kilobytes
MAX_KNOWN_HOSTS_BYTES = 64 * 1024 * 1024
_SSH_CONFIGS: dict[str, tuple[int, paramiko.SSHConfig]] = {}


def _ssh_config(path: Path) -> paramiko.SSHConfig:
    """~/.ssh/config parsed once per run (size-capped like every user-named file)."""
    from mailstate.inputs import read_capped

    key = str(path)
    stamp = path.stat().st_mtime_ns
    with _KEY_LOCK:
        cached = _SSH_CONFIGS.get(key)
        if cached is None or cached[0] != stamp:
            text = read_capped(path, "ssh config", MAX_KNOWN_HOSTS_BYTES).decode("utf-8",
                                                                                "replace")
            cached = (stamp, paramiko.SSHConfig.from_text(text))
            _SSH_CONFIGS[key] = cached
        return cached[1]


def check_endpoint_input(host: HostSpec) -> None:
    """Refuse what must not reach ssh_config lookups or ssh: the host's own problems
    (bad port, unsupported become, ...) and any address or user with characters a shell
    or an ssh_config token could act on (`Match exec "... %h"` runs a shell command with
    the host name in it)."""
    from mailstate.inventory.hostnames import unsafe_address, unsafe_user

    problems = list(getattr(host, "problems", ()))
    if problems:
        raise MailstateError(problems)
    why = unsafe_address(host.address)
    if why:
        raise error(f"host {host.name}: address {host.address[:80]!r} cannot be given to ssh: "
                    f"{why}", code="inventory",
                    fix="use a DNS name or an IP address (ansible_host)")
    if host.user is not None and unsafe_user(host.user):
        raise error(f"host {host.name}: user {host.user[:40]!r}: {unsafe_user(host.user)}",
                    code="inventory")
    if host.port is not None and not (isinstance(host.port, int) and 0 < host.port < 65536):
        raise error(f"host {host.name}: port {host.port!r} is not a port number (1-65535)",
                    code="inventory")


def ssh_destination(host: HostSpec, options: SshOptions | None = None) -> tuple[str, int]:
    """(address, port) where ssh connects for `host`, for what is shown or probed
    without connecting: the inventory's own values when they cannot be resolved (the
    same problem stops the host's SSH work, and is said there)."""
    try:
        endpoint = resolve_endpoint(host, options or SshOptions())
    except MailstateError:
        return host.address, host.port or 22
    return endpoint.hostname, endpoint.port


def resolve_endpoint(host: HostSpec, options: SshOptions) -> Endpoint:
    """Inventory values win; ~/.ssh/config fills in what the inventory leaves open, as
    ssh does: HostName applies to the name ssh is given (ansible_host or the inventory
    name), Port and User only when the inventory sets none (then 22 and the local user)."""
    import getpass

    check_endpoint_input(host)
    cfg: dict[str, Any] = {}
    if options.ssh_config_path.is_file():
        cfg = _ssh_config(options.ssh_config_path).lookup(host.address)
    key_files = [host.key_file] if host.key_file else list(cfg.get("identityfile", []))
    known = [host.known_hosts_file] if host.known_hosts_file else [
        str(Path(p).expanduser()) for p in
        ([*cfg.get("userknownhostsfile", "~/.ssh/known_hosts").split(), "/etc/ssh/ssh_known_hosts"])
    ]
    port = host.port
    if port is None:
        try:
            port = int(cfg.get("port", 22))
        except ValueError:
            raise error(f"{options.ssh_config_path}: Port {cfg.get('port')!r} for "
                        f"{host.address} is not a number", file=str(options.ssh_config_path),
                        code="inventory") from None
    return Endpoint(
        name=host.name,
        hostname=cfg.get("hostname", host.address),
        port=port,
        user=host.user or cfg.get("user") or getpass.getuser(),
        key_files=tuple(str(Path(k).expanduser()) for k in key_files),
        known_hosts=tuple(known),
        proxy_jump=cfg.get("proxyjump"),
    )


def _parsed_known_hosts(path: str) -> paramiko.HostKeys | None:
    """Each known_hosts file parsed once per run (paramiko's loader is quadratic in the
    number of lines: re-reading a 100-host file per connection cost ~20 ms of CPU each).
    The read is size-capped (`/dev/zero` as known_hosts is refused, not read forever)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return None
    with _KEY_LOCK:
        cached = _KNOWN_HOSTS.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, _read_known_hosts(path))
            _KNOWN_HOSTS[path] = cached
        return cached[1]


def _read_known_hosts(path: str) -> paramiko.HostKeys:
    from mailstate.inputs import read_capped

    text = read_capped(path, "known_hosts file", MAX_KNOWN_HOSTS_BYTES).decode("utf-8",
                                                                              "replace")
    keys = paramiko.HostKeys()
    entries = getattr(keys, "_entries", None)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
        except (paramiko.SSHException, ValueError):
            continue
        if entry is None or entry.key is None:
            continue
        if entries is not None:
            entries.append(entry)  # linear; HostKeys.add() rescans every entry
        else:  # pragma: no cover - paramiko without _entries
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return keys


def _add_known_keys(client: paramiko.SSHClient, ep: Endpoint) -> None:
    """Give the client only this host's known keys, looked up in the parsed files."""
    name = ep.hostname if ep.port == 22 else f"[{ep.hostname}]:{ep.port}"
    for path in ep.known_hosts:
        parsed = _parsed_known_hosts(path)
        entry = parsed.lookup(name) if parsed is not None else None
        for keytype, key in (entry or {}).items():
            client.get_host_keys().add(name, keytype, key)


def _load_key(path: str) -> paramiko.PKey:
    with _KEY_LOCK:
        if path not in _KEY_CACHE:
            _KEY_CACHE[path] = _read_key(path)
        return _KEY_CACHE[path]


def _read_key(path: str) -> paramiko.PKey:
    """A private key file, read with a size cap (a key of `/dev/zero` is refused, not read
    forever), with its `-cert.pub` certificate when there is one, as paramiko does."""
    import io

    from mailstate.inputs import read_capped

    fix = "check ansible_ssh_private_key_file and the file's permissions"
    text = read_capped(path, "SSH key", MAX_KEY_BYTES).decode("utf-8", "replace")
    key: paramiko.PKey | None = None
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            key = kind.from_private_key(io.StringIO(text))
            break
        except paramiko.PasswordRequiredException:
            raise error(f"SSH key {path} is protected by a passphrase", file=path,
                        fix="load it into ssh-agent (ssh-add) and leave "
                            "ansible_ssh_private_key_file unset") from None
        except (paramiko.SSHException, ValueError):
            continue
    if key is None:
        raise error(f"cannot load SSH key {path}: not an Ed25519, ECDSA or RSA private key",
                    file=path, fix=fix)
    cert = Path(path + "-cert.pub")
    if cert.is_file():
        try:
            key.load_certificate(read_capped(cert, "SSH certificate",
                                             MAX_KEY_BYTES).decode("ascii", "replace"))
        except (ValueError, paramiko.SSHException) as exc:
            raise error(f"cannot load SSH certificate {cert}: {exc}", file=str(cert)) from None
    return key


def _open_socket(ep: Endpoint, timeout: float, jump: paramiko.Transport | None) -> Any:
    if jump is not None:
        return jump.open_channel("direct-tcpip", (ep.hostname, ep.port), ("127.0.0.1", 0),
                                 timeout=timeout)
    try:
        sock = socket.create_connection((ep.hostname, ep.port), timeout=timeout)
    except OSError as exc:
        raise error(f"cannot reach {ep.name} ({ep.hostname}:{ep.port}): {exc.strerror or exc}",
                    code="unreachable",
                    fix="check the address in the inventory and that sshd runs there") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _host_key_policy(ep: Endpoint, options: SshOptions) -> paramiko.MissingHostKeyPolicy:
    if options.accept_new:
        return paramiko.AutoAddPolicy()
    return _StrictPolicy(ep)


class _StrictPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys with a message that says how to trust one."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        files = ", ".join(self.ep.known_hosts)
        raise error(
            f"unknown host key for {self.ep.name} ({hostname}): {key.get_name()} "
            f"{key.fingerprint}", code="hostkey-unknown",
            detail=f"not found in: {files}",
            fix=f"verify the fingerprint out of band, then add it: "
                f"ssh-keyscan -p {self.ep.port} {self.ep.hostname} >> {self.ep.known_hosts[0]} "
                f"(or run once with --accept-new)")


def _changed_key_error(ep: Endpoint, exc: paramiko.BadHostKeyException) -> MailstateError:
    return error(
        f"HOST KEY CHANGED for {ep.name} ({ep.hostname}): refusing to connect",
        code="hostkey-changed",
        detail=f"expected {exc.expected_key.get_name()} {exc.expected_key.fingerprint}, "
               f"got {exc.key.get_name()} {exc.key.fingerprint}. Someone may be intercepting "
               f"the connection, or the host was reinstalled.",
        fix=f"if the change is expected: ssh-keygen -R {ep.hostname} -f {ep.known_hosts[0]}, "
            f"then add the new key")


def connect(host: HostSpec, options: SshOptions | None = None) -> SshConnection:
    """Open an authenticated, host-key-verified session to one inventory host."""
    options = options or SshOptions()
    ep = resolve_endpoint(host, options)
    for path in ep.known_hosts:
        _parsed_known_hosts(path)  # refuse an unreadable or endless one before paramiko
    password = getattr(host, "become_password", None)
    if host.become and password is not None and options.become_password is None:
        # ansible_become_password from the inventory (a vault value is decrypted here)
        options = dataclasses.replace(options, become_password=password.reveal())
    jump = _connect_jump(ep, options) if ep.proxy_jump else None
    client = _connect_client(ep, options, jump)
    return SshConnection(host.name, client, host.user or ep.user, host.become, options, jump)


def _connect_jump(ep: Endpoint, options: SshOptions) -> paramiko.SSHClient:
    from mailstate.inventory import HostSpec

    spec = ep.proxy_jump or ""
    user, _, rest = spec.rpartition("@")
    name, _, port = rest.partition(":")
    jump_host = HostSpec(name=name, address=name, port=int(port) if port else 22,
                         user=user or None)
    return _connect_client(resolve_endpoint(jump_host, options), options, None)


def _connect_client(ep: Endpoint, options: SshOptions,
                    jump: paramiko.SSHClient | None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if options.accept_new:
        client.load_host_keys(ep.known_hosts[0])  # the file --accept-new writes back to
    _add_known_keys(client, ep)
    client.set_missing_host_key_policy(_host_key_policy(ep, options))
    sock = _open_socket(ep, options.connect_timeout,
                        jump.get_transport() if jump is not None else None)
    pkey = _load_key(ep.key_files[0]) if ep.key_files else None
    try:
        client.connect(
            ep.hostname, port=ep.port, username=ep.user, pkey=pkey, sock=sock,
            timeout=options.connect_timeout, banner_timeout=options.connect_timeout,
            auth_timeout=options.connect_timeout,
            allow_agent="SSH_AUTH_SOCK" in os.environ, look_for_keys=pkey is None,
        )
    except paramiko.BadHostKeyException as exc:
        raise _changed_key_error(ep, exc) from exc
    except paramiko.AuthenticationException as exc:
        raise error(f"authentication failed for {ep.user}@{ep.hostname} ({ep.name})",
                    code="auth", detail=str(exc),
                    fix="check ansible_user and ansible_ssh_private_key_file, or the "
                        "agent") from exc
    except (paramiko.SSHException, OSError) as exc:
        raise error(f"SSH to {ep.name} ({ep.hostname}:{ep.port}) failed: {exc}",
                    code="unreachable") from exc
    if options.accept_new and ep.known_hosts:
        client.save_host_keys(ep.known_hosts[0])
    return client


class SshConnection:
    """A paramiko session to one host; every command is counted in `round_trips`."""

    def __init__(self, name: str, client: paramiko.SSHClient, user: str, become: bool,
                 options: SshOptions, jump: paramiko.SSHClient | None = None) -> None:
        self.name = name
        self.client = client
        self.user = user
        self.become = become
        self.options = options
        self.jump = jump
        self.round_trips = 0

    def _wrap(self, command: str, stdin: bytes) -> tuple[str, bytes]:
        if not self.become or self.user == "root":
            return command, stdin
        if self.options.become_password is None:
            return "sudo -n sh -c " + shlex.quote(command), stdin
        # sudo -S reads the password line only when it needs it: a marker line tells
        # the wrapped command where its own stdin starts, either way.
        skip = f'while IFS= read -r l && [ "$l" != {STDIN_MARK} ]; do :; done; eval "$1"'
        wrapped = f"sudo -S -p '' sh -c {shlex.quote(skip)} mailstate {shlex.quote(command)}"
        prefix = (self.options.become_password + "\n" + STDIN_MARK + "\n").encode()
        return wrapped, prefix + stdin

    def start(self, command: str, stdin: bytes = b"") -> SshRunning:
        command, stdin = self._wrap(command, stdin)
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise error(f"connection to {self.name} was lost", code="connection")
        try:
            channel = transport.open_session(timeout=self.options.connect_timeout)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            why = str(exc) or type(exc).__name__
            if not transport.is_active():
                raise error(f"connection to {self.name} was lost: {why}",
                            code="connection") from exc
            raise error(f"{self.name}: the host refused to open a session: {why}",
                        code="session",
                        fix="check the host's sshd (MaxSessions, MaxStartups, load) and "
                            "retry") from exc
        self.round_trips += 1
        running = SshRunning(self.name, channel)
        if stdin:
            running.write(stdin)
        return running

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Result:
        running = self.start(command, stdin)
        running.close_stdin()
        return running.wait(timeout or self.options.command_timeout)

    def close(self) -> None:
        self.client.close()
        if self.jump is not None:
            self.jump.close()


class SshRunning:
    """One exec channel: stdout and stderr drained concurrently so neither can stall."""

    def __init__(self, name: str, channel: paramiko.Channel) -> None:
        self.name = name
        self.channel = channel
        self._err: list[bytes] = []
        self._err_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._err_thread.start()
        self._lines = LineReader(self._recv)

    def _drain_stderr(self) -> None:
        while True:
            try:
                chunk = self.channel.recv_stderr(65536)
            except (OSError, EOFError, paramiko.SSHException):
                return
            if not chunk:
                return
            self._err.append(chunk)

    def _recv(self, timeout: float | None) -> bytes:
        self.channel.settimeout(timeout)
        return bytes(self.channel.recv(65536))  # socket.timeout is a TimeoutError

    def _lost(self, exc: BaseException) -> MailstateError:
        return error(f"{self.name}: the connection was lost: {exc or type(exc).__name__}",
                     code="connection")

    def write(self, data: bytes) -> None:
        try:
            self.channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(exc) from exc

    def close_stdin(self) -> None:
        try:
            self.channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(exc) from exc

    def readline(self, timeout: float | None = None) -> bytes:
        return self._lines.readline(timeout)

    def wait(self, timeout: float | None = None) -> Result:
        try:
            out = self._lines.rest(timeout)
        except CommandTimeout:
            self.channel.close()
            raise
        rc = self.channel.recv_exit_status()
        self._err_thread.join(timeout=5)
        self.channel.close()
        return Result(rc, out, b"".join(self._err))
