"""Run each supported release's own tools on test input (no mocks).

Debian 12's doveconf/postconf are this machine's; Debian 13's run by chroot in a
throw-away overlay of the cached debootstrapped root filesystem (mailstate.lab.rootfs).
Each check works on its own copy of the release's stock /etc/dovecot or /etc/postfix,
so checks can run side by side.
"""

from __future__ import annotations

import itertools
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailstate.engine.facts import Facts
from mailstate.formats.dovecot import DovecotConfig
from mailstate.lab.rootfs import chroot_run
from mailstate.model import MailState
from mailstate.transport.base import Connection
from mailstate.transport.local import LocalConnection

_COUNTER = itertools.count()


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def dovecot_snippet(settings: Mapping[tuple[str, ...], str | None]) -> bytes:
    """Settings as a config file, written by mailstate's own Dovecot editor (None: left
    out, as on a fresh file)."""
    config = DovecotConfig.load({"/snippet.conf": b""}, "/snippet.conf")
    for path, value in settings.items():
        if value is not None:
            config.set(path, value)
    return config.render("/snippet.conf")


class Release:
    """One release's tools: `root` is "/" for this machine, else an overlay."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scratch = Path(tempfile.mkdtemp(prefix="mailstate-rt-", dir=root / "tmp"))

    def inside(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.root)) if self.root != Path("/") else str(path)

    def run(self, argv: list[str]) -> Result:
        if self.root == Path("/"):
            proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        else:
            proc = chroot_run(self.root, argv)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"),
                      proc.stderr.decode(errors="replace"))

    def config_copy(self, what: str, files: Mapping[str, bytes] | None = None) -> Path:
        """A private copy of the release's stock /etc/<what>, with `files` put in it."""
        target = self.scratch / f"{what}{next(_COUNTER)}"
        shutil.copytree(self.root / "etc" / what, target, symlinks=True)
        for name, data in (files or {}).items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
        return target

    def doveconf(self, local_conf: bytes = b"", files: Mapping[str, bytes] | None = None
                 ) -> Result:
        """`doveconf -n` of the stock tree with `local_conf` as its local.conf."""
        conf = self.config_copy("dovecot", {"local.conf": local_conf, **(files or {})})
        return self.run(["doveconf", "-c", self.inside(conf / "dovecot.conf"), "-n"])

    def doveconf_tree(self, tree: Path) -> Result:
        return self.run(["doveconf", "-c", self.inside(tree / "dovecot.conf"), "-n"])

    def postconf(self, args: list[str], files: Mapping[str, bytes] | None = None) -> Result:
        conf = self.config_copy("postfix", files)
        return self.run(["postconf", "-c", self.inside(conf), *args])


class ChrootConnection(LocalConnection):
    """A host whose commands run in a release's root filesystem (chroot), as root.

    Not a stand-in for SSH's behaviour: the real gather script, shell and tools of that
    release run on its real files; only the transport differs (no network).
    """

    def __init__(self, root: Path, name: str = "sim") -> None:
        super().__init__(name)
        self.root = root

    def _wrap(self, command: str) -> str:
        return f"chroot {shlex.quote(str(self.root))} /bin/sh -c {shlex.quote(command)}"

    def run(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Any:
        return super().run(self._wrap(command), stdin, timeout)

    def start(self, command: str, stdin: bytes = b"") -> Any:
        return super().start(self._wrap(command), stdin)


def gather_facts(conn: Connection, state: MailState) -> Facts:
    """The real one-exec facts of a host, plus Debian's stock Roundcube config when the
    host has none (the tests' root filesystems have no Roundcube)."""
    from mailstate.engine.compile import facts_request
    from mailstate.engine.facts import RemoteFile, gather

    facts = gather(conn, facts_request(state))
    path = state.roundcube.path if state.roundcube else None
    if path and path not in facts.files:
        stock = Path(__file__).resolve().parents[1] / "formats" / "data" / "config.inc.php"
        facts.files[path] = RemoteFile(path, stock.read_bytes(), 0o640, "root", "www-data")
    return facts


def candidate_tree(release: Release, what: str, changes: list[Any]) -> Path:
    """A copy of the release's /etc/<what> with the plan's candidates written into it."""
    prefix = f"/etc/{what}/"
    files = {c.path[len(prefix):]: c.candidate.after for c in changes
             if c.path.startswith(prefix)}
    return release.config_copy(what, files)


HARDENED = Path(__file__).resolve().parents[2] / "states" / "hardened.yaml"
STOCK_CERT = "etc/ssl/certs/ssl-cert-snakeoil.pem"


def hardened(root: Path, *layers: Path) -> MailState:
    """The hardened profile (plus `layers`) for a host of the release at `root`, given
    its name the way an inventory gives it (`mail_hostname`): the name on that release's
    stock certificate, so Roundcube's peer name agrees with it."""
    from mailstate.lint.tls_names import certificate_names
    from mailstate.model import load_state

    name = "mail.example.com"
    cert = root / STOCK_CERT
    names = certificate_names(cert.read_bytes()) if cert.is_file() else None
    if names:
        name = names[0].partition(":")[2]
    return load_state([HARDENED, *layers], {"mail_hostname": name}).state
