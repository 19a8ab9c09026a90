"""Desired state + live files -> candidate files and the actions they need.

This is the one code path that computes what a host should look like; `plan` shows its
result and `apply` writes it, so the dry run can never disagree with the real run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mailstate.diagnostics import Diagnostic, Location, MailstateError, ParseError
from mailstate.engine.facts import DOVECOT_DIRS, Facts, FactsRequest, RemoteFile
from mailstate.engine.memo import SharedMemo
from mailstate.filepaths import MAP_SUFFIX
from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.lookup import LookupTable
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf
from mailstate.formats.roundcube import PhpConfig
from mailstate.model.values import render
from mailstate.releases import host as releases

if TYPE_CHECKING:
    from mailstate.model import MailState

POSTFIX_DIR = "/etc/postfix"
MAIN_CF = f"{POSTFIX_DIR}/main.cf"
MASTER_CF = f"{POSTFIX_DIR}/master.cf"
DOVECOT_ROOT = "/etc/dovecot/dovecot.conf"
RESTART_PARAMS = ("inet_interfaces", "inet_protocols")
# Where each release's Dovecot names its certificate (2.3 `ssl_cert = <p`, 2.4 a path).
DOVECOT_CERT_PATHS = (("ssl_cert",), ("ssl_server_cert_file",), ("ssl_server", "cert_file"))
DOVECOT_STOCK_CERT = "/etc/dovecot/private/dovecot.pem"  # Debian 12 and 13
POSTFIX_STOCK_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"  # Debian's main.cf
T = TypeVar("T")
_MEMO: SharedMemo[Any] = SharedMemo(256)


@dataclass(frozen=True)
class Candidate:
    """A file whose desired bytes differ from the live ones."""

    path: str
    before: RemoteFile | None
    after: bytes
    service: str  # postfix | dovecot | roundcube | map

    @property
    def mode(self) -> int:
        return self.before.mode if self.before else 0o644

    @property
    def owner(self) -> str:
        return self.before.owner if self.before else "root"

    @property
    def group(self) -> str:
        return self.before.group if self.before else "root"


ActionKind = Literal["postmap", "reload", "restart"]
ActionService = Literal["postfix", "dovecot"]


@dataclass(frozen=True)
class Action:
    """Something to run on the host after the files are in place."""

    kind: ActionKind
    service: ActionService
    argument: str = ""

    def describe(self) -> str:
        if self.kind == "postmap":
            return f"postmap {self.argument}"
        return f"{self.kind} {self.service}"


@dataclass
class Compiled:
    """The result of compiling one host's state against its facts."""

    candidates: list[Candidate] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # shown with the diffs; no apply
    # the certificate file each server will serve after the change ("imap", "smtp")
    served_certs: dict[str, str] = field(default_factory=dict)


def facts_request(state: MailState) -> FactsRequest:
    """The files a state touches (plus what validation needs) for the one-exec fetch."""
    files: list[str] = []
    stats: list[str] = []
    dirs: list[str] = []
    if state.postfix is not None:
        files += [MAIN_CF, MASTER_CF]
        for path, spec in state.postfix.maps.items():
            files.append(path)
            if spec.needs_postmap():
                stats += [path, path + MAP_SUFFIX.get(spec.type, ".db")]
    if state.dovecot is not None:
        dirs += list(DOVECOT_DIRS)
    if state.roundcube is not None:
        files.append(state.roundcube.path)
    certs = [c for c in certificate_paths(state) if c not in files]
    return FactsRequest(tuple(files), tuple(dirs), tuple(stats), tuple(certs))


def certificate_paths(state: MailState) -> list[str]:
    """The certificates whose names the plan compares with what Roundcube verifies
    (`lint.tls_names`): those the state names, else Debian's stock ones; none when
    Roundcube verifies no local TLS target."""
    roundcube = state.roundcube
    if roundcube is None or not any(k in roundcube.config for k in ("imap_host", "smtp_host")):
        return []
    paths = []
    if state.dovecot is not None:
        named = [render(state.dovecot.get(*n)) for n in DOVECOT_CERT_PATHS]
        paths += [n.lstrip("<").strip() for n in named if n] or [DOVECOT_STOCK_CERT]
    if state.postfix is not None:
        named_cert = state.postfix.main_values().get("smtpd_tls_cert_file")
        paths.append(named_cert or POSTFIX_STOCK_CERT)
    return list(dict.fromkeys(p for p in paths if p.startswith("/")))


def compile_host(state: MailState, facts: Facts) -> Compiled:
    """Apply every edit of the state to parsed copies of the live files.

    The host's package versions decide how settings are written (mailstate.releases): an
    unsupported version, or a setting its version lacks, stops this host's plan.
    """
    out = Compiled()
    target = releases.target(state, facts.versions)
    plain = state.reveal()
    if state.postfix is not None and target.postfix is not None:
        _compile_postfix(plain, facts, out, target.postfix)
    if state.dovecot is not None and target.dovecot is not None:
        _compile_dovecot(plain, facts, out, target.dovecot)
    if state.roundcube is not None:
        _compile_roundcube(plain, facts, out)
        if facts.certificates:
            out.errors.extend(_peer_name_problems(state.roundcube.config, facts, out))
    return out


def _peer_name_problems(config: dict[str, Any], facts: Facts, out: Compiled
                        ) -> list[Diagnostic]:
    """Roundcube's peer names against the certificates Dovecot and Postfix will serve,
    where those were read (`lint.tls_names`, rule roundcube-peer-name)."""
    from mailstate.lint.tls_names import (
        ServedCertificate,
        certificate_names,
        certificate_problems,
    )

    served: dict[str, ServedCertificate | None] = {}
    for service, path in out.served_certs.items():
        pem = facts.certificates.get(path)
        names = certificate_names(pem) if pem is not None else None
        served[service] = ServedCertificate(path, names) if names is not None else None
    return certificate_problems(config, served)


def _need(facts: Facts, path: str) -> RemoteFile:
    live = facts.get(path)
    if live is None:
        raise MailstateError(Diagnostic(
            "error", f"{path} does not exist on the host", Location(path), code="missing-file",
            fix="install the package that provides it, or drop that part of the state"))
    return live


def _edit(live: RemoteFile | None, parse: Callable[[bytes, str], Any],
          edit: Callable[[Any], None], path: str) -> bytes:
    doc = parse(live.data if live else b"", path)
    edit(doc)
    return bytes(doc.render())


P = TypeVar("P")


def _withheld(exc: ParseError) -> ParseError:
    """The same parse error without the text found at its position.

    For live files that may hold secrets the state does not know (Roundcube's des_key and
    passwords, a secret map, Dovecot's passdb/ldap args): the error still says where and
    what was expected, never text that may be part of a secret. (A missing include names
    its file: a path is no secret, and the user needs it.)"""
    if exc.expected in _SHOWN_ERRORS:
        return exc
    return ParseError(exc.file, exc.line, exc.column, exc.expected,
                      "text not shown (this file may hold secrets)")


_SHOWN_ERRORS = frozenset({"an existing file to include", "an include depth below 20"})


def _quiet(parse: Callable[[bytes, str], P]) -> Callable[[bytes, str], P]:
    """`parse`, with its parse errors `_withheld`."""
    def parse_quietly(data: bytes, path: str) -> P:
        try:
            return parse(data, path)
        except ParseError as exc:
            raise _withheld(exc) from None
    return parse_quietly


def _add(out: Compiled, path: str, live: RemoteFile | None, after: bytes, service: str) -> bool:
    if live is not None and live.data == after:
        return False
    out.candidates.append(Candidate(path, live, after, service))
    return True


def _compile_postfix(state: Any, facts: Facts, out: Compiled, series: str) -> None:
    pf = state.postfix
    main_live, master_live = _need(facts, MAIN_CF), _need(facts, MASTER_CF)
    main = MainCf.parse(main_live.data, MAIN_CF)
    before = {k: main.get(k) for k in RESTART_PARAMS}
    for key, value in pf.main_values().items():
        if value is None:
            main.unset(key)
        else:
            out.warnings.extend(main.set(key, value))
    main_changed = _add(out, MAIN_CF, main_live, main.render(), "postfix")
    if not main.get("smtpd_tls_chain_files"):  # chain files win over cert_file
        out.served_certs["smtp"] = main.get("smtpd_tls_cert_file") or ""
    master_key = ("master", master_live.sha256, repr(sorted(pf.master.items())))
    master_after = _memo(master_key, lambda: _edit(master_live, MasterCf.parse,
                                                   lambda d: _edit_master(d, pf), MASTER_CF))
    master_changed = _add(out, MASTER_CF, master_live, master_after, "postfix")
    releases.check_postfix(pf, series, master_after)
    _compile_maps(pf, facts, out)
    if any(main.get(k) != before[k] for k in RESTART_PARAMS):
        out.actions.append(Action("restart", "postfix"))
    elif main_changed or master_changed:
        out.actions.append(Action("reload", "postfix"))


def _edit_master(doc: MasterCf, pf: Any) -> None:
    for key, service in pf.master.items():
        name, _, kind = key.partition("/")
        if service.absent:
            doc.remove(name, kind)
        else:
            doc.ensure(name, kind, service.fields(), dict(service.options))


def _compile_maps(pf: Any, facts: Facts, out: Compiled) -> None:
    for path, spec in pf.maps.items():
        live = facts.get(path)
        if spec.content is not None:
            after = LookupTable.from_entries(dict(spec.content)).render()
        else:
            parse = _quiet(LookupTable.parse) if spec.secret else LookupTable.parse
            after = _edit(live, parse, partial(_edit_map, spec=spec), path)
        changed = _add(out, path, live, after, "map")
        if spec.needs_postmap() and (changed or _map_db_stale(facts, path, spec.type)):
            out.actions.append(Action("postmap", "postfix", f"{spec.type}:{path}"))


def _edit_map(doc: LookupTable, spec: Any) -> None:
    for key, value in (spec.entries or {}).items():
        if value is None:
            doc.remove(key)
        else:
            doc.set(key, value)


def _map_db_stale(facts: Facts, path: str, kind: str) -> bool:
    db = facts.mtimes.get(path + MAP_SUFFIX.get(kind, ".db"))
    src = facts.mtimes.get(path)
    return db is None or (src is not None and db < src)


def _memo(key: Hashable, compute: Callable[[], T]) -> T:
    """Hosts of a fleet mostly share files and state: compute each distinct case once.

    Keys hold sha256 digests of the inputs and the state part, so a hit is the same
    computation on the same bytes; results are immutable (bytes, tuples).
    """
    return _MEMO.get(key, compute)  # type: ignore[no-any-return]


def _compile_dovecot(state: Any, facts: Facts, out: Compiled, series: str) -> None:
    _need(facts, DOVECOT_ROOT)
    tree = {p: f for p, f in facts.files.items()
            if p.startswith(tuple(d + "/" for d in DOVECOT_DIRS))}
    settings = releases.dovecot_settings(state.dovecot.settings_flat(), series, out.warnings)
    key = ("dovecot", tuple(sorted((p, f.sha256) for p, f in tree.items())),
           tuple(settings.items()))
    changed_files, cert = _memo(key, lambda: _edit_dovecot(
        {p: f.data for p, f in tree.items()}, settings))
    out.served_certs["imap"] = cert
    changed = False
    for path, data in changed_files:
        if not path.startswith("/etc/dovecot/"):  # Dovecot's kind owns /etc/dovecot only
            where = "in a package file" if path.startswith("/usr/") else "outside /etc/dovecot"
            raise MailstateError(Diagnostic(
                "error", f"a Dovecot setting is defined {where} ({path}); "
                "mailstate edits only files under /etc/dovecot", Location(path),
                code="package-file",
                fix="for `protocols`, leave it to Debian's protocols.d (see MAIL-FACTS #5) "
                    "or set it in /etc/dovecot/local.conf by hand"))
        changed |= _add(out, path, facts.get(path), data, "dovecot")
    if changed:
        out.actions.append(Action("reload", "dovecot"))
    if series == "2.4":  # a host upgraded in place keeps 2.3 files that 2.4 refuses
        after = {p: f.data for p, f in tree.items()} | dict(changed_files)
        out.errors.extend(_memo(("dovecot-2.4-lines", key), lambda: tuple(
            releases.refused_dovecot_lines(after, DOVECOT_ROOT))))


def _edit_dovecot(files: dict[str, bytes], settings: dict[tuple[str, ...], str | None]
                  ) -> tuple[tuple[tuple[str, bytes], ...], str]:
    """(the changed files, the certificate file the edited config serves; "" unknown)."""
    try:
        config = DovecotConfig.load(files, DOVECOT_ROOT)
    except ParseError as exc:
        raise _withheld(exc) from None
    for path, value in settings.items():
        if value is None:
            config.unset(path)
        else:
            config.set(path, value)
    cert = next((v for v in map(config.get, DOVECOT_CERT_PATHS) if v), "")
    return tuple(sorted(config.changed().items())), cert.lstrip("<").strip()


def _compile_roundcube(state: Any, facts: Facts, out: Compiled) -> None:
    path = state.roundcube.path
    live = _need(facts, path)

    def edit(doc: PhpConfig) -> None:
        doc.update(state.roundcube.config)  # one re-tokenize for all keys, not one each

    _add(out, path, live, _edit(live, _quiet(PhpConfig.parse), edit, path), "roundcube")
