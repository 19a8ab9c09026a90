"""One loaded inventory: sources read, variables merged by Ansible's precedence, hosts.

Precedence, lowest first (ansible.vars.manager with the default VARIABLE_PRECEDENCE):
inline vars of `all`; inline vars of the host's other groups, by depth, then
`ansible_group_priority`, then name; `group_vars/all` beside each inventory source, then
beside the project directory (the working directory, Ansible's basedir when there is
no playbook); `group_vars/<group>` likewise, groups in the same order; the host's own
inline vars; `host_vars/<host>` beside each source, then beside the project directory.
A later value replaces an earlier one (no dict merge: Ansible's default).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inventory.connection import HostSpec, build_host
from mailstate.inventory.data import Group, InventoryData, inventory_error
from mailstate.inventory.hostnames import is_ip
from mailstate.inventory.sources import Source, SourceReader
from mailstate.inventory.values import VarSource
from mailstate.inventory.varsfiles import VarsFiles
from mailstate.inventory.vault import VaultKeys

if TYPE_CHECKING:
    from mailstate.inventory.delegate import AnsibleInventory
    from mailstate.model import MailState
    from mailstate.model.loader import StateLayer

Warn = Callable[[Diagnostic], None]


def stderr_warning(diag: Diagnostic) -> None:
    sys.stderr.write(diag.format() + "\n")


class Inventory:
    """Hosts and groups of one or more inventory sources; `select` applies a `--limit`."""

    def __init__(self, data: InventoryData, sources: list[Source], vars_files: VarsFiles,
                 project_dir: Path, warn: Warn | None) -> None:
        self.data = data
        self.sources = sources
        self.path = Path(sources[0].text) if sources else Path(".")
        self.groups: dict[str, Group] = data.groups
        self.project_dir = project_dir
        self._files = vars_files
        self._warn = warn
        self.warnings: list[Diagnostic] = []
        self._layers: dict[Path, StateLayer] = {}
        self.shared_states: dict[tuple[object, ...], MailState] = {}  # see shared_state()
        self._origins: dict[str, tuple[dict[str, Any], dict[str, VarSource]]] = {}
        self._where: dict[str | None, tuple[str | None, str | None]] = {}
        self.report(data.warnings)
        self.hosts: dict[str, HostSpec] = {name: self._spec(name) for name in self._order()}

    def report(self, diagnostics: list[Diagnostic]) -> None:
        for diag in diagnostics:
            self.warnings.append(diag)
            if self._warn is not None:
                self._warn(diag)

    def _order(self) -> list[str]:
        return self.data.group_hosts("all")

    # -- variables ---------------------------------------------------------------
    def groups_of(self, host: str) -> list[str]:
        """The host's groups by precedence, `all` first (lowest)."""
        return ["all", *self.data.host_groups(host)]

    def variables(self, host: str) -> tuple[dict[str, Any], dict[str, VarSource]]:
        """A host's merged variables (no magic ones) and where each was set."""
        if host not in self._origins:
            self._origins[host] = self._merge(host)
        return self._origins[host]

    def _merge(self, host: str) -> tuple[dict[str, Any], dict[str, VarSource]]:
        values: dict[str, Any] = {}
        sources: dict[str, VarSource] = {}

        def add(pair: tuple[dict[str, Any], dict[str, VarSource]]) -> None:
            values.update(pair[0])
            sources.update(pair[1])

        groups = self.data.host_groups(host)
        inventory_bases = [s.vars_base for s in self.sources if s.vars_base is not None]
        bases = {"inventory": inventory_bases, "project": [self.project_dir]}
        add((self.groups["all"].vars, self.groups["all"].sources))
        for name in groups:
            add((self.groups[name].vars, self.groups[name].sources))
        for where in ("inventory", "project"):
            for base in bases[where]:
                add(self._files.variables(base, "group_vars", "all"))
        for where in ("inventory", "project"):
            for base in bases[where]:
                for name in groups:
                    add(self._files.variables(base, "group_vars", name))
        entry = self.data.hosts[host]
        add((entry.vars, entry.sources))
        for where in ("inventory", "project"):
            for base in bases[where]:
                add(self._files.variables(base, "host_vars", host))
        return values, sources

    def magic(self, host: str) -> dict[str, Any]:
        """Ansible's magic variables of a host (inventory_hostname, group_names, ...)."""
        entry = self.data.hosts[host]
        short = host if ("." in host or ":" in host) and is_ip(host) else host.split(".")[0]
        source = entry.source_file
        if source not in self._where:
            path = Path(source).absolute() if source else None
            self._where[source] = (str(path) if path else None,
                                   str(path.parent) if path else None)
        file, folder = self._where[source]
        return {"inventory_hostname": host, "inventory_hostname_short": short,
                "group_names": sorted(self.data.host_groups(host)),
                "inventory_file": file, "inventory_dir": folder}

    def var_origins(self, host: str) -> dict[str, tuple[Any, VarSource]]:
        values, sources = self.variables(host)
        return {k: (v, sources.get(k, VarSource(str(self.path)))) for k, v in values.items()}

    def _spec(self, name: str) -> HostSpec:
        values, sources = self.variables(name)
        magic = self.magic(name)
        entry = self.data.hosts[name]
        base = Path(magic["inventory_dir"]) if magic["inventory_dir"] else self.project_dir
        spec = build_host(name, values, sources, magic,
                          entry.location or Location(str(self.path)), base)
        self.report(list(spec.notes))
        return spec

    # -- selection ---------------------------------------------------------------
    def host(self, name: str) -> HostSpec:
        if name not in self.hosts:
            raise _unknown([name], self)
        return self.hosts[name]

    def select(self, limit: str | None = None) -> list[HostSpec]:
        """Hosts matching an Ansible `--limit` (None: every host), in inventory order."""
        names = self.select_names(limit)
        return [self.hosts[n] for n in names]

    def select_names(self, limit: str | None) -> list[str]:
        if limit is None or not limit.strip():
            return list(self.hosts)
        from mailstate.inventory.limit import Selector, patterns_of

        selector = Selector(self.data)
        chosen = set(selector.evaluate(patterns_of(limit)))
        self.report(selector.warnings)
        return [n for n in self.hosts if n in chosen]

    def evaluate(self, patterns: Sequence[str]) -> list[str]:
        """Hosts of host patterns, in pattern order (what `ansible PATTERN` targets)."""
        from mailstate.inventory.limit import Pattern, Selector

        selector = Selector(self.data)
        found = selector.evaluate([Pattern(p) for p in patterns])
        self.report(selector.warnings)
        return found

    def group_hosts(self, name: str) -> set[str]:
        return set(self.data.group_hosts(name))

    # -- states (see states.py) ---------------------------------------------------
    def state_paths(self, name: str, host: str | None = None) -> list[Path]:
        from mailstate.inventory.states import state_paths

        return state_paths(self, name, host)

    def layer(self, path: Path) -> StateLayer:
        """A parsed state file, cached (merging never mutates a layer's data)."""
        from mailstate.model.loader import read_state_file

        key = path.resolve()
        if key not in self._layers:
            self._layers[key] = read_state_file(path)
        return self._layers[key]


def _unknown(names: list[str], inventory: Inventory) -> MailstateError:
    import difflib

    known = list(inventory.hosts) + list(inventory.groups)
    diags = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hosts = ", ".join(list(inventory.hosts)[:20])
        diags.append(Diagnostic(
            "error", f"no host named {name!r} in the inventory", Location(str(inventory.path)),
            fix=("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else
            f"hosts: {hosts}", code="inventory"))
    return MailstateError(diags)


def load_inventory(path: str | Path | Sequence[str | Path], *, vault: VaultKeys | None = None,
                   project_dir: str | Path | None = None, warn: Warn | None = stderr_warning,
                   ansible: AnsibleInventory | None = None) -> Inventory:
    """Read inventory sources (a path, a directory, `a,b,` or several of them).

    `vault`: the run's vault passwords (default: $ANSIBLE_VAULT_PASSWORD_FILE, or a
    prompt on a terminal). `project_dir`: where playbook-adjacent group_vars/host_vars
    are (default: the working directory, as Ansible without a playbook). `warn`: called
    with each warning (default: printed on stderr, like Ansible's)."""
    texts = [str(path)] if isinstance(path, str | Path) else [str(p) for p in path]
    if not texts:
        raise inventory_error("no inventory given", None,
                              fix="pass -i inventory/lab.yaml (or set MAILSTATE_INVENTORY)")
    if vault is None:
        from mailstate.inventory.vault import keys_from_options

        vault = keys_from_options(None, None)
    if ansible is None:
        from mailstate.inventory.delegate import AnsibleInventory

        ansible = AnsibleInventory(vault_args=vault_args(vault))
    data = InventoryData()
    reader = SourceReader(data, vault, ansible)
    sources = [reader.read(text) for text in texts]
    data.reconcile()
    files = VarsFiles(vault)
    base = Path(project_dir) if project_dir is not None else Path.cwd()
    return Inventory(data, sources, files, base.resolve(), warn)


def vault_args(vault: VaultKeys) -> list[str]:
    """ansible-inventory options giving it the same vault passwords (files only)."""
    args: list[str] = []
    for source in vault.sources:
        if source.kind == "file":
            args += ["--vault-id", f"{source.label}@{source.path}"]
        else:
            args += ["--vault-id", f"{source.label}@prompt"]
    if vault.ask and not any(s.kind == "prompt" for s in vault.sources):
        args.append("--ask-vault-pass")
    return args
