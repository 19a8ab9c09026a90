"""`Lab`: real mail hosts (sshd + Postfix + Dovecot + Roundcube) in namespaces on this machine.

Every feature that touches a server is tested against real daemons reading real
Debian files, not mocks; this is what starts them. One host = a network namespace on
the instance's bridge + a private mount/PID/UTS namespace running `host.sh init` as
PID 1 (so killing it takes the whole host down, mounts included), with per-host copies
of the directories the engine manages bind-mounted over its root. Every kernel object
is named from the instance number K, so instances run side by side and `down` removes
exactly its own.

A host runs the machine's own release ("native": the machine's trees, /var/lib
copy-on-write) or another supported one (Debian 13 next to a Debian 12 machine): then its
root is an overlay of the cached root filesystem (`rootfs`) with a per-host upper dir,
and sshd, Postfix, Dovecot and Roundcube run chrooted into it, so an SSH session, `run()`
and the engine all meet that release's tools.

State of instance K, /var/tmp/mailstate-lab/K/: `ca/` (lab CA), `client_ed25519`,
`known_hosts`, `inventory.yaml` (K != 0; instance 0 writes <repo>/inventory/lab.yaml),
`templates/<release>/fs` (shared stock trees), and per host `hN/`: `fs/` (bind-mounted
over the host's root: see template.HOST_TREES, HOST_FILES), `own/` (its stock files that
differ from the template), `host.conf`, `release`, `varlib/` (native: overlay upper dir
of /var/lib) or `overlay/` + `sysroot/` (other releases: upper dir and mount point of the
whole root), `host.log`, `webmail.log`.

Paths the engine may dirty on a host and that `reset` wipes: /var/lib/mailstate (lock),
/var/backups/mailstate (backups), /run/mailstate*, /run/lock/mailstate*, /tmp/mailstate*.
`reset` also restores mailboxes, homes and the Roundcube database to stock.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from mailstate.diagnostics import error
from mailstate.lab import accounts, build, network, preflight, restore, template
from mailstate.lab import releases as lab_releases
from mailstate.lab.releases import HostRelease
from mailstate.lab.status import HostStatus, parse_status

STATE_ROOT = Path("/var/tmp/mailstate-lab")
HOST_SCRIPT = Path(__file__).with_name("host.sh")
START_TIMEOUT = 120.0  # generous: 100 hosts on a loaded 2-core machine
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}


@dataclass(frozen=True)
class LabHost:
    """One lab host as the tests and the inventory see it."""

    name: str
    number: int
    address: str
    namespace: str
    directory: Path
    mail: bool = True
    release: str = ""          # Debian codename of what it runs ("" before it was built)
    root: Path = Path("/")     # its root as seen in its mount namespace (chroot if not /)

    @property
    def log_path(self) -> Path:
        return self.directory / "host.log"

    @property
    def fqdn(self) -> str:
        """The name on its certificate, in its main.cf and its inventory `mail_hostname`."""
        return f"{self.name}.test"

    @property
    def native(self) -> bool:
        return self.root == Path("/")


@dataclass(frozen=True)
class MailUser:
    """The mail user every lab host has (Dovecot via PAM, Postfix SASL via Dovecot)."""

    name: str
    password: str

    def address(self, host: LabHost) -> str:
        return f"{self.name}@{host.fqdn}"


def repo_inventory() -> Path | None:
    """`<repo>/inventory/lab.yaml` when running from a source checkout."""
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").exists() and (repo / "mailstate").is_dir():
        return repo / "inventory" / "lab.yaml"
    return None


class Lab:
    """Instance K of the lab: bridge msbr{K}, 10.231.K.0/24, hosts h1..hN.

    Hosts get certificates like a public CA issues (their DNS name hN.test only, no
    address, no localhost) and the lab CA in their system trust store, as a site's own
    CA would be. `public_certs=False` issues the old kind (also the address, localhost
    and 127.0.0.1, no trust store entry); hosts built the other way are rebuilt.
    """

    mail_users = tuple(MailUser(name, password)
                       for name, _, password in accounts.LAB_MAIL_USERS)
    mail_user = mail_users[0]  # alice
    webmail_port = build.WEBMAIL_PORT

    def __init__(self, instance: int = 0, *,
                 public_certs: bool = build.PUBLIC_CERTS_DEFAULT) -> None:
        network.subnet_prefix(instance)  # validates
        self.instance = instance
        self.public_certs = public_certs
        self.state_dir = STATE_ROOT / str(instance)
        self.key_path = self.state_dir / "client_ed25519"
        self.known_hosts_path = self.state_dir / "known_hosts"
        inventory = repo_inventory() if instance == 0 else None
        self.inventory_path = inventory or self.state_dir / "inventory.yaml"
        self.ca_path = self.state_dir / "ca" / "ca.pem"

    def _host_script(self) -> Path:
        """host.sh where every host can read it: the repo may sit under /tmp, which is
        a per-host tmpfs inside the hosts, so each instance keeps its own copy."""
        copy = self.state_dir / "host.sh"
        text = HOST_SCRIPT.read_bytes()
        if not copy.exists() or copy.read_bytes() != text:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            tmp = copy.with_suffix(".tmp")
            tmp.write_bytes(text)
            tmp.replace(copy)
        return copy

    # -- naming ---------------------------------------------------------------------
    def host(self, name_or_number: str | int) -> LabHost:
        number = (name_or_number if isinstance(name_or_number, int)
                  else self._number(name_or_number))
        directory = self.state_dir / f"h{number}"
        mail = _read(directory / "mail") != "0"
        sysroot = directory / "sysroot"
        return LabHost(f"h{number}", number, network.host_address(self.instance, number),
                       network.netns_name(self.instance, number), directory, mail,
                       _read(directory / "release"),
                       sysroot if sysroot.is_dir() else Path("/"))

    def _number(self, name: str) -> int:
        if not (name.startswith("h") and name[1:].isdigit()):
            raise error(f"no lab host named {name!r}", fix="lab hosts are named h1, h2, ...")
        return int(name[1:])

    def hosts(self) -> list[LabHost]:
        """Hosts of this instance that are running, in order."""
        return [h for h in map(self.host, self._started_numbers())
                if self._init_pid(h) is not None]

    def _started_numbers(self) -> list[int]:
        """Numbers of the hosts that were started (running or not)."""
        return sorted(int(p.name[1:]) for p in self.state_dir.glob("h*")
                      if p.name[1:].isdigit() and (p / "pid").exists())

    def webmail_url(self, host: str | LabHost) -> str:
        """Roundcube on that host, over HTTP from the machine (`php -S` inside the host)."""
        h = host if isinstance(host, LabHost) else self.host(host)
        return f"http://{h.address}:{self.webmail_port}/"

    # -- processes ------------------------------------------------------------------
    def _init_pid(self, host: LabHost) -> int | None:
        """Machine PID of the host's PID 1 (the child of `unshare`), or None if down."""
        try:
            outer = int((host.directory / "pid").read_text())
            children = Path(f"/proc/{outer}/task/{outer}/children").read_text().split()
            cmdline = Path(f"/proc/{outer}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if b"unshare" not in cmdline or not children:
            return None
        pid = int(children[0])
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != self._netns_id(host):
                return None
        except OSError:
            return None
        return pid

    @staticmethod
    def _netns_id(host: LabHost) -> str:
        return f"net:[{os.stat(network.NETNS_DIR / host.namespace).st_ino}]"

    def _require_pid(self, name: str) -> tuple[LabHost, int]:
        host = self.host(name)
        pid = self._init_pid(host)
        if pid is None:
            raise error(f"lab host {host.name} (instance {self.instance}) is not running",
                        fix=f"mailstate lab up {host.number}", file=str(host.log_path))
        return host, pid

    def run(self, name: str, cmd: str, *, input: str | None = None,
            timeout: float | None = 60, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a shell command (`/bin/sh -c`) inside the host, as its root user.

        In the host's namespaces, and chrooted into its root when it runs another
        release, so `postconf` here is the host's own. Like subprocess.run with
        captured output: a process left running in the background must not keep
        stdout/stderr open (redirect them), or this waits.
        """
        host, pid = self._require_pid(name)
        chroot = [] if host.native else ["chroot", str(host.root)]
        return self._nsenter(pid, [*chroot, "/bin/sh", "-c", cmd], input=input,
                             timeout=timeout, check=check)

    def _run_host_script(self, host: LabHost, *args: str) -> subprocess.CompletedProcess[str]:
        """host.sh in the host's namespaces but outside any chroot (the machine's tools)."""
        _, pid = self._require_pid(host.name)
        return self._nsenter(pid, ["/bin/bash", str(self._host_script()), args[0],
                                   str(host.directory), *args[1:]], timeout=120)

    @staticmethod
    def _nsenter(pid: int, argv: list[str], *, input: str | None = None,
                 timeout: float | None = 60,
                 check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--", *argv],
            input=input, stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True, text=True, timeout=timeout, check=check,
            env=CLEAN_ENV, cwd="/")

    # -- lifecycle ------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One lab operation per instance at a time (concurrent pytest runs, CLI)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def up(self, count: int | None = None, mail: bool = True,
           releases: str | Sequence[str] | None = None) -> list[LabHost]:
        """Ensure h1..h{count} run (idempotent: running hosts are kept as they are).

        `releases`: None keeps what runs and starts new hosts on the machine's release;
        one name (`trixie`, `debian13`, `13`) for every host; or one per host
        (`bookworm,bookworm,trixie` or a list), which also gives the count. A running
        host of another release than asked for is rebuilt from scratch.
        """
        preflight.check()
        wanted_releases = lab_releases.parse_spec(releases, count)
        if not 1 <= len(wanted_releases) <= 240:
            raise error(f"lab size must be 1..240 hosts, not {len(wanted_releases)}")
        with self._locked():
            keys = build.ensure_instance_keys(self.state_dir, self.instance)
            wanted = [self.host(n) for n in range(1, len(wanted_releases) + 1)]
            chosen = {h.name: self._release_for(h, r)
                      for h, r in zip(wanted, wanted_releases, strict=True)}
            templates = self._ensure_templates(set(chosen.values()), keys)
            network.ensure_bridge(self.instance)
            running = {h.name for h in wanted if self._init_pid(h) is not None
                       and _read(h.directory / "template-id")
                       == templates[chosen[h.name]][1]}
            fresh = [h for h in wanted if h.name not in running]
            network.remove_hosts(self.instance, [h.number for h in fresh])

            def build_one(h: LabHost) -> str:
                release = chosen[h.name]
                fs, template_id = templates[release]
                return build.build_host(h.directory, h.name, h.address, keys, fs, release,
                                        template_id, self.public_certs)

            with ThreadPoolExecutor(max_workers=min(16, len(fresh) or 1)) as pool:
                keylines = dict(zip([h.name for h in fresh], pool.map(build_one, fresh),
                                    strict=True))
            network.add_hosts(self.instance, [h.number for h in fresh])
            for h in fresh:
                (h.directory / "mail").write_text("1\n" if mail else "0\n")
                self._spawn(h, mail)
            self._wait_ready([self.host(h.name) for h in fresh])
            if mail:  # a running --no-mail host gets its mail daemons; nothing is reset
                self._reset_hosts([self.host(h.name) for h in wanted if h.name in running],
                                  restore_files=False, mail=True)
            self._write_known_hosts(keylines)
            self._write_inventory()
            return [self.host(h.number) for h in wanted]

    def _release_for(self, host: LabHost, name: str | None) -> HostRelease:
        """The release `host` must run: the one asked for, else the one it runs now."""
        if name is None and host.release and self._init_pid(host) is not None:
            name = host.release
        return lab_releases.resolve(name)

    def _ensure_templates(self, wanted: set[HostRelease], keys: build.InstanceKeys,
                          ) -> dict[HostRelease, tuple[Path, str]]:
        """{release: (template fs, its fingerprint)} for every release asked for."""
        ca, pub = keys.ca_cert.read_bytes(), keys.client_pub.read_bytes()
        found = {}
        for release in sorted(wanted, key=lambda r: r.name):
            if release.native:
                _ensure_mountpoints()
            fs = template.ensure_template(self.state_dir, release, ca, pub, self.public_certs)
            found[release] = (fs, template.fingerprint(release, ca, self.public_certs))
        return found

    def _spawn(self, host: LabHost, mail: bool) -> None:
        log = open(host.log_path, "ab")  # noqa: SIM115 - handed to the child
        (host.directory / "state").unlink(missing_ok=True)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace,
             "unshare", "--mount", "--pid", "--fork", "--uts", "--mount-proc",
             "--propagation", "private", "--kill-child",
             "/bin/bash", str(self._host_script()), "init", str(host.directory),
             "1" if mail else "0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=CLEAN_ENV, cwd="/")
        log.close()
        (host.directory / "pid").write_text(f"{proc.pid}\n")

    def _wait_ready(self, hosts: list[LabHost]) -> None:
        pending = {h.name: h for h in hosts}
        failed: list[LabHost] = []
        deadline = time.monotonic() + START_TIMEOUT
        while pending and time.monotonic() < deadline:
            for name, h in list(pending.items()):
                state = _read(h.directory / "state")
                if state == "ready":
                    del pending[name]
                elif state == "failed" or not self._outer_alive(h):
                    failed.append(pending.pop(name))
            time.sleep(0.02)
        failed += pending.values()
        # keep the logs, drop the half-started hosts
        network.remove_hosts(self.instance, [h.number for h in failed])
        if failed:
            raise error(
                f"lab host{'s' if len(failed) > 1 else ''} "
                f"{', '.join(h.name for h in failed)} did not start",
                file=str(failed[0].log_path),
                detail="\n".join(f"{h.name}: see {h.log_path}" for h in failed),
                fix="read the log; `mailstate lab down` then `up` starts from scratch")

    @staticmethod
    def _outer_alive(host: LabHost) -> bool:
        try:
            pid = int((host.directory / "pid").read_text())
        except (OSError, ValueError):
            return False
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        except ChildProcessError:
            pass
        return Path(f"/proc/{pid}").exists()

    def _write_known_hosts(self, new: dict[str, str]) -> None:
        lines: dict[str, str] = {}
        if self.known_hosts_path.exists():
            for line in self.known_hosts_path.read_text().splitlines(keepends=True):
                names = line.split(" ", 1)[0].split(",")
                if len(names) == 3:
                    lines[names[2]] = line
        lines.update(new)
        alive = {h.name for h in self.hosts()}
        text = "".join(lines[n] for n in sorted(lines, key=lambda n: int(n[1:])) if n in alive)
        self.known_hosts_path.write_text(text)

    def inventory(self) -> dict[str, object]:
        """The Ansible-style inventory of the running hosts.

        Plain Ansible host vars only: the release a host runs is a lab fact (facts tell
        mailstate the versions), not something an inventory must state.
        """
        hosts = {
            h.name: {"ansible_host": h.address, "ansible_port": 22, "ansible_user": "root",
                     "ansible_ssh_private_key_file": str(self.key_path),
                     "mailstate_known_hosts_file": str(self.known_hosts_path),
                     "mail_hostname": h.fqdn}
            for h in self.hosts()}
        return {"all": {"hosts": hosts, "vars": {"mailstate_states": ["hardened"]}}}

    def _write_inventory(self) -> None:
        head = (f"# mailstate lab instance {self.instance}: written by `mailstate lab up`;"
                " hosts run in network namespaces on this machine.\n")
        text = head + yaml.safe_dump(self.inventory(), sort_keys=False)
        self.inventory_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.inventory_path.exists() or self.inventory_path.read_text() != text:
            self.inventory_path.write_text(text)

    def status(self) -> list[HostStatus]:
        """Per host: daemons, listening ports, release and its package versions."""
        preflight.check()
        hosts = [self.host(n) for n in self._started_numbers()]
        with ThreadPoolExecutor(max_workers=min(16, len(hosts) or 1)) as pool:
            return list(pool.map(self._status_one, hosts))

    def _status_one(self, host: LabHost) -> HostStatus:
        pid = self._init_pid(host)
        if pid is None:
            return HostStatus(host.name, host.address, False, host.mail, release=host.release)
        proc = self._run_host_script(host, "status")
        return self._parse(host, pid, host.mail, proc.stdout)

    def _parse(self, host: LabHost, pid: int, mail: bool, text: str) -> HostStatus:
        root = Path(f"/proc/{pid}/root{'' if host.native else host.root}")
        release = lab_releases.resolve(host.release or None, build=False)
        return parse_status(host.name, host.address, mail, text, release=release.name,
                            debian=release.version,
                            versions=lab_releases.package_versions(root))

    def reset(self, names: list[str] | None = None) -> list[HostStatus]:
        """Stock files back, engine leftovers removed, changed or stopped services restarted.

        `names` None means every host that was started; one that died since is an
        error naming its log (a test must not quietly run on fewer hosts).
        """
        preflight.check()
        with self._locked():
            hosts = [self.host(n) for n in names] if names else \
                [self.host(n) for n in self._started_numbers()]
            for h in hosts:
                self._require_pid(h.name)
                if not (h.directory / "host.conf").exists():
                    raise error(f"lab host {h.name} was started by an older mailstate",
                                fix=f"mailstate lab up --instance {self.instance} "
                                    "rebuilds it")
            return self._reset_hosts(hosts, restore_files=True, mail=None)

    def _reset_hosts(self, hosts: list[LabHost], *, restore_files: bool,
                     mail: bool | None) -> list[HostStatus]:
        def one(h: LabHost) -> HostStatus:
            services: list[str] = []
            if restore_files:
                stock = template.template_dir(self.state_dir, h.release) / "fs"
                services = restore.services_to_restart(restore.restore_host(h.directory, stock))
            want_mail = h.mail if mail is None else (mail or h.mail)
            if want_mail and not h.mail:
                (h.directory / "mail").write_text("1\n")
            verb = "reset" if restore_files else "ensure"
            proc = self._run_host_script(h, verb, str(int(want_mail)), *services)
            if proc.returncode != 0:
                raise error(f"lab host {h.name} did not come back after reset: "
                            f"{proc.stderr.strip()}", file=str(h.log_path))
            _, pid = self._require_pid(h.name)
            return self._parse(h, pid, want_mail, proc.stdout)

        with ThreadPoolExecutor(max_workers=min(16, len(hosts) or 1)) as pool:
            return list(pool.map(one, hosts))

    def down(self) -> None:
        """Stop every host of this instance; remove namespaces, veths, bridge, host trees.

        Every mount of a host lives in its private mount namespace, so it is gone once
        its processes are: nothing to unmount on the machine.
        """
        preflight.check()
        with self._locked():
            for h in (self.host(int(p.name[1:])) for p in self.state_dir.glob("h*")
                      if p.name[1:].isdigit()):
                pids = [p for p in (self._init_pid_safe(h), self._outer_pid(h)) if p]
                network.kill_and_wait(pids)
            network.remove_instance(self.instance)
            doomed = [str(p) for p in self.state_dir.glob("h*") if p.name[1:].isdigit()]
            doomed += [str(self.state_dir / "template"), str(self.state_dir / "templates")]
            subprocess.run(["rm", "-rf", "--one-file-system", *doomed], check=False)
            self.known_hosts_path.unlink(missing_ok=True)
            if self.inventory_path.parent == self.state_dir:
                self.inventory_path.unlink(missing_ok=True)

    def _init_pid_safe(self, host: LabHost) -> int | None:
        try:
            return self._init_pid(host)
        except OSError:
            return None

    @staticmethod
    def _outer_pid(host: LabHost) -> int | None:
        try:
            pid = int((host.directory / "pid").read_text())
            return pid if b"unshare" in Path(f"/proc/{pid}/cmdline").read_bytes() else None
        except (OSError, ValueError):
            return None


def _read(path: Path) -> str:
    """A small state file's stripped text, "" when it is not there."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _ensure_mountpoints() -> None:
    """Native hosts bind-mount their trees over the machine's: every target must exist
    (e.g. /etc/roundcube on a machine without Roundcube's package). Empty dirs only."""
    for tree in template.HOST_TREES:
        Path("/", tree).mkdir(parents=True, exist_ok=True)
