"""The facts command a host's plan will send first, told from its state files alone.

Why: the facts command (which files to read) depends on the state, and the state
needs the pydantic models, ~0.15 s of imports and validation before the first host
could be asked anything. Which files a state reads is plain in its YAML, though:
whether it has `postfix`, `dovecot` and `roundcube` sections, the paths and types of
its `postfix.maps`, Roundcube's `path`, and the certificates the plan checks Roundcube's
peer names against. So the connections `EarlyConnections` opens
also start that command at once (it only reads), and the host's work overlaps this
process's imports. Nothing here decides anything: the engine still computes the request
from the validated state, and an early answer is used only for exactly the same
command (`_targets.EarlyFirst`); a guess that differs costs one more round trip, never
a different plan. Where a guess would need more than the plain YAML (a `{{ variable }}`
in a path, a merge key, an unreadable file), there is none.

The YAML is not validated yet, so no path in it is trusted: the command is guessed only
when every path it would read passes the model's own path rules (`mailstate.filepaths`)
and lies in its kind's directory (maps in /etc/postfix, never main.cf or master.cf;
Roundcube's config in /etc/roundcube; certificates under /etc). A state that names a
file anywhere else (`/etc/shadow` as a map, a path in `allow_paths`) gets no early
read: the engine asks after validation, or refuses the state.

It must follow `engine.compile.facts_request`; tests/engine/test_prefetch.py holds the
two equal for every shipped profile and for layered states.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mailstate.diagnostics import MailstateError
from mailstate.engine.facts import DOVECOT_DIRS, FactsRequest, gather_command
from mailstate.filepaths import (
    MAP_SUFFIX,
    POSTFIX_DIR,
    ROUNDCUBE_DIR,
    is_under,
    map_path_problem,
    path_problem,
    roundcube_path_problem,
)
from mailstate.mapmerge import merge_plain

if TYPE_CHECKING:
    from mailstate.inventory import HostSpec, Inventory

# As in engine/compile.py and model/roundcube.py (which import the models).
MAIN_CF = f"{POSTFIX_DIR}/main.cf"
MASTER_CF = f"{POSTFIX_DIR}/master.cf"
ROUNDCUBE_CONFIG = "/etc/roundcube/config.inc.php"
DOVECOT_STOCK_CERT = "/etc/dovecot/private/dovecot.pem"
POSTFIX_STOCK_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
# Dovecot settings that name a certificate (2.3, 2.4, 2.4's section): a state that sets
# one is not guessed (its value would need the model's rendering)
DOVECOT_CERT_SETTINGS = ("ssl_cert", "ssl_server_cert_file", "ssl_server")
# Roundcube keys that make the plan read the certificates Roundcube will verify
ROUNDCUBE_TLS_TARGETS = ("imap_host", "smtp_host")
SECTIONS = ("postfix", "dovecot", "roundcube")


class _NoGuess(Exception):
    """The files alone do not say which command the state will send."""


class _Plain(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader that takes any `!tag` as the plain value it tags."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Plain.add_multi_constructor("!", _untagged)


def first_commands(inventory: Inventory, hosts: list[HostSpec]) -> dict[str, str]:
    """{host: the facts command its plan or apply will send first}, for every host whose
    command its state files tell (each file is read once)."""
    from mailstate.inventory.states import find_state

    layers: dict[Path, dict[str, Any] | None] = {}
    commands: dict[FactsRequest, str] = {}
    first: dict[str, str] = {}
    for host in hosts:
        if host.problems:
            continue
        try:
            parts = []
            for name in host.states:
                path = find_state(name, inventory, host.name)
                if path not in layers:
                    layers[path] = _layer(path)
                parts.append(layers[path])
            overrides = inventory.variables(host.name)[0].get("mailstate_overrides")
            if overrides is not None:
                parts.append(_relevant(overrides))
            request = guess_request(parts)
        except (_NoGuess, MailstateError, OSError):
            continue
        if request not in commands:
            commands[request] = gather_command(request)
        first[host.name] = commands[request]
    return first


def _layer(path: Path) -> dict[str, Any] | None:
    """What of one state file decides the request (None: it cannot be told)."""
    from mailstate.inputs import read_capped

    try:
        return _relevant(yaml.load(read_capped(path, "state"), Loader=_Plain))
    except (_NoGuess, MailstateError, OSError, yaml.YAMLError, RecursionError):
        return None


def guess_request(layers: list[dict[str, Any] | None]) -> FactsRequest:
    """The facts request of the state these layers (`_relevant` of each file, then of
    the overrides) make, merged in order."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            raise _NoGuess
        merged = merge_plain(merged, layer)
    return _request(merged)


def _relevant(data: Any) -> dict[str, Any]:
    """Only what `_request` reads, so that merging stays small whatever else a file
    holds: section presence, each map's path and type, Postfix's certificate, Roundcube's
    path and whether it connects to a local TLS target."""
    if not isinstance(data, dict):
        raise _NoGuess
    out: dict[str, Any] = {}
    for section in SECTIONS:
        if section not in data:
            continue
        value = data[section]
        if value is None:
            out[section] = None
            continue
        value = _mapping(value)
        kept: dict[str, Any] = {}
        if section == "postfix" and "maps" in value:
            kept["maps"] = {_text(path): _map_spec(spec)
                            for path, spec in _mapping(value["maps"]).items()}
        if section == "postfix" and "smtpd_tls_cert_file" in _mapping(value.get("main", {})):
            cert = value["main"]["smtpd_tls_cert_file"]
            kept["main"] = {"smtpd_tls_cert_file": None if cert is None else _text(cert)}
        if section == "postfix" and "smtpd_tls_cert_file" in _mapping(value.get("main_extra",
                                                                                {})):
            raise _NoGuess
        if section == "dovecot":
            settings = _mapping(value.get("settings") or {})
            if any(str(k).split("/")[0] in DOVECOT_CERT_SETTINGS for k in settings):
                raise _NoGuess
        if section == "roundcube" and "path" in value:
            kept["path"] = _text(value["path"])
        if section == "roundcube":
            config = _mapping(value.get("config") or {})
            kept["config"] = {k: True for k in ROUNDCUBE_TLS_TARGETS if k in config}
        out[section] = kept
    return out


def _map_spec(spec: Any) -> dict[str, str]:
    spec = _mapping(spec)
    return {"type": _text(spec["type"])} if "type" in spec else {}


def _request(state: dict[str, Any]) -> FactsRequest:
    """`engine.compile.facts_request` over the merged `_relevant` data."""
    files: list[str] = []
    stats: list[str] = []
    dirs: list[str] = []
    postfix = state.get("postfix")
    if postfix is not None:
        files += [MAIN_CF, MASTER_CF]
        for path, spec in postfix.get("maps", {}).items():
            kind = spec.get("type", "hash")
            files.append(_own_dir(path, POSTFIX_DIR, map_path_problem))
            if kind in MAP_SUFFIX:
                stats += [path, path + MAP_SUFFIX[kind]]
    if state.get("dovecot") is not None:
        dirs += list(DOVECOT_DIRS)
    roundcube = state.get("roundcube")
    if roundcube is not None:
        files.append(_own_dir(roundcube.get("path", ROUNDCUBE_CONFIG), ROUNDCUBE_DIR,
                              lambda p: roundcube_path_problem(p, ROUNDCUBE_CONFIG)))
    certs: list[str] = []
    if roundcube is not None and roundcube.get("config"):  # engine.compile.certificate_paths
        if state.get("dovecot") is not None:
            certs.append(DOVECOT_STOCK_CERT)
        if postfix is not None:
            certs.append(postfix.get("main", {}).get("smtpd_tls_cert_file") or POSTFIX_STOCK_CERT)
    certs = [c for c in dict.fromkeys(p for p in certs if p.startswith("/")) if c not in files]
    certs = [_own_dir(c, "/etc", path_problem) for c in certs]
    return FactsRequest(tuple(files), tuple(dirs), tuple(stats), tuple(certs))


def _own_dir(path: str, directory: str, problem: Callable[[str], str | None]) -> str:
    """`path`, if the model's rule for its kind (`problem`) accepts it and it is in
    `directory`; else no guess: a path only validation may let through is read only
    after it."""
    if problem(path) or not is_under(path, directory):
        raise _NoGuess
    return path


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or "<<" in value:
        raise _NoGuess
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or "{{" in value:
        raise _NoGuess
    return value
