"""From `-i` arguments to one inventory graph, choosing each file's form as Ansible does.

Per source, in Ansible's plugin order: `a,b,` (a comma and no such path) is a host
list; a directory is every entry in it, sorted, recursively (hidden entries,
`group_vars`, `host_vars`, `vars_plugins` and backup/doc extensions skipped); an
executable file is an inventory script; a `.yml/.yaml` file with `plugin:` is a plugin
configuration (both through ansible-inventory, see delegate.py); `.toml` is TOML; a
file with no extension or `.yml/.yaml/.json` is YAML/JSON, and INI when it does not read
as a YAML mapping; anything else is INI. A whole file may be vault-encrypted.

Ansible only warns about a file it cannot read and goes on without its hosts; mailstate
refuses, naming the file: a missing file would change which hosts are in which group.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailstate.diagnostics import Diagnostic, Location, MailstateError
from mailstate.inputs import read_capped
from mailstate.inventory.data import InventoryData, inventory_error
from mailstate.inventory.hostnames import parse_address
from mailstate.inventory.static import YamlInventory, read_script_json, read_toml
from mailstate.inventory.varsfiles import KEEP_NODES
from mailstate.inventory.vault import is_vaulted
from mailstate.inventory.yamlload import decode, parse_text

if TYPE_CHECKING:
    from mailstate.inventory.delegate import AnsibleInventory
    from mailstate.inventory.vault import VaultKeys

_IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
                 ".orig", ".cfg", ".retry")
_IGNORED_NAMES = re.compile(r"^\.|^host_vars$|^group_vars$|^vars_plugins$")
YAML_EXTS = ("", ".yml", ".yaml", ".json")
MAX_SOURCE_FILES = 10_000


@dataclass(frozen=True)
class Source:
    """One `-i` argument: its text and where its group_vars/host_vars live (None for a
    host list)."""

    text: str
    vars_base: Path | None


def ignored(name: str) -> bool:
    return bool(_IGNORED_NAMES.search(name)) or name.endswith(_IGNORED_EXTS)


class SourceReader:
    def __init__(self, inv: InventoryData, vault: VaultKeys, ansible: AnsibleInventory) -> None:
        self.inv = inv
        self.vault = vault
        self.ansible = ansible
        self.files = 0

    def read(self, text: str) -> Source:
        path = Path(text).expanduser()
        if "," in text and not os.path.exists(path):
            self.host_list(text)
            return Source(text, None)
        if not path.exists():
            raise inventory_error(
                f"inventory not found: {text}", Location(text),
                fix=f"for a single host without an inventory file write -i {text},")
        if path.is_dir():
            self.directory(path)
            return Source(text, path)
        self.file(path)
        return Source(text, path.parent)

    def host_list(self, text: str) -> None:
        for item in (i.strip() for i in text.split(",")):
            if not item:
                continue
            parsed = parse_address(item, allow_ranges=False)
            name, port = parsed if parsed is not None else (item, None)
            if name not in self.inv.hosts:
                self.inv.add_host(name, "ungrouped", port, None, Location(text))

    def directory(self, folder: Path) -> None:
        for name in sorted(os.listdir(folder)):
            if ignored(name):
                continue
            path = folder / name
            if path.is_dir():
                self.directory(path)
            else:
                self.file(path)

    def file(self, path: Path) -> None:
        self.files += 1
        if self.files > MAX_SOURCE_FILES:
            raise inventory_error(f"more than {MAX_SOURCE_FILES} inventory files",
                                  Location(str(path)))
        if os.access(path, os.X_OK) and path.is_file():
            self.script(path, "an inventory script (an executable file)")
            return
        data = read_capped(path, "inventory")
        vaulted = is_vaulted(data)
        if vaulted:
            data = self.vault.decrypt(decode(data, str(path)), str(path))
        text = decode(data, str(path))
        ext = path.suffix
        if ext == ".toml":
            self.toml(text, path)
        elif ext in YAML_EXTS:
            self.yaml_or_ini(text, path, vaulted)
        else:
            from mailstate.inventory.ini import IniInventory

            IniInventory(text, str(path), self.inv, vaulted).read()

    def script(self, path: Path, form: str) -> None:
        text = self.ansible.list(path, form)
        loaded = parse_text(text, str(path), self.vault)
        read_script_json(loaded.data, str(path), self.inv)

    def toml(self, text: str, path: Path) -> None:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise inventory_error(f"invalid TOML: {exc}", Location(str(path))) from None
        read_toml(data, str(path), self.inv)

    def yaml_or_ini(self, text: str, path: Path, vaulted: bool) -> None:
        try:
            loaded = parse_text(text, str(path), self.vault, KEEP_NODES, vaulted)
        except MailstateError as yaml_error:
            self.ini_fallback(text, path, vaulted, yaml_error)
            return
        self.inv.warnings.extend(loaded.warnings)
        data = loaded.data
        if data is None:
            return  # empty: Ansible's INI reader accepts it, with no hosts
        if isinstance(data, dict) and data.get("plugin"):
            if path.suffix in (".yml", ".yaml"):
                self.script(path, f"an inventory plugin configuration (plugin: "
                                  f"{str(data['plugin'])[:80]})")
                return
            raise inventory_error("a plugin configuration must be a .yml or .yaml file",
                                  Location(str(path)))
        if isinstance(data, dict):
            YamlInventory(loaded, self.inv).read()
            return
        self.ini_fallback(text, path, vaulted, None)

    def ini_fallback(self, text: str, path: Path, vaulted: bool,
                     yaml_error: MailstateError | None) -> None:
        from mailstate.inventory.ini import IniInventory

        try:
            IniInventory(text, str(path), self.inv, vaulted).read()
        except MailstateError as ini_error:
            diag = ini_error.diagnostics[0]
            why_yaml = (yaml_error.diagnostics[0].format() if yaml_error else
                        "as YAML it is not a mapping of groups")
            raise inventory_error(
                f"{path} is neither a YAML nor an INI inventory", Location(str(path)),
                fix=f"as INI: {diag.format()}\nas YAML: {why_yaml}") from None
        if path.suffix:
            self.inv.warnings.append(Diagnostic(
                "warning", f"{path} is named {path.suffix} but holds an INI inventory: read "
                "as INI (as Ansible does)", Location(str(path)), code="inventory"))
