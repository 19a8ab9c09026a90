"""`group_vars/` and `host_vars/` files, found and read as Ansible's host_group_vars does.

For a name N in DIR/group_vars: the first of `N`, `N.yml`, `N.yaml`, `N.json` that
exists is used; when it is a directory, every file in it with no extension or one of
those (sorted, hidden and `~` backups skipped, subdirectories without an extension
walked in place) is read in order. So with both `mail.yml` and `mail/`, only `mail/`
counts. Files may be YAML or JSON, plain or vaulted; an empty file adds nothing. Each
file is parsed once per run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailstate.diagnostics import Location
from mailstate.inputs import read_capped
from mailstate.inventory.data import inventory_error
from mailstate.inventory.values import VarSource
from mailstate.inventory.yamlload import load_bytes

if TYPE_CHECKING:
    from mailstate.inventory.vault import VaultKeys

EXTENSIONS = ("", ".yml", ".yaml", ".json")
MAX_FILES = 10_000
KEEP_NODES = frozenset({"mailstate_overrides", "mailstate_states"})


def _dir_files(folder: Path, budget: list[int]) -> list[Path]:
    found: list[Path] = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or name.endswith("~"):
            continue
        path = folder / name
        ext = os.path.splitext(name)[1]
        if path.is_dir() and not ext:
            found += _dir_files(path, budget)
        elif path.is_file() and ext in EXTENSIONS:
            found.append(path)
        budget[0] -= 1
        if budget[0] < 0:
            raise inventory_error(f"more than {MAX_FILES} files under {folder}",
                                  Location(str(folder)))
    return found


def find_files(base: Path, name: str) -> list[Path]:
    """The files holding variables of `name` in `base` (a group_vars/host_vars dir)."""
    if name.startswith("/"):
        return []  # Ansible skips such names ("chroot" style hosts)
    stem = base / name
    for ext in EXTENSIONS:
        path = Path(str(stem) + ext)
        if path.exists():
            if path.is_dir():
                return _dir_files(path, [MAX_FILES])
            return [path]
    return []


@dataclass
class VarsFiles:
    """Cache of parsed vars files for one run."""

    vault: VaultKeys | None
    parsed: dict[Path, tuple[dict[str, Any], dict[str, VarSource]]] = field(default_factory=dict)
    listed: dict[tuple[Path, str], list[Path]] = field(default_factory=dict)
    folders: dict[tuple[Path, str], Path | None] = field(default_factory=dict)

    def read(self, path: Path) -> tuple[dict[str, Any], dict[str, VarSource]]:
        if path not in self.parsed:
            loaded = load_bytes(read_capped(path, "variables file"), str(path), self.vault,
                                KEEP_NODES)
            data = loaded.data
            if data in (None, {}, [], ""):
                self.parsed[path] = ({}, {})
            elif not isinstance(data, dict):
                raise inventory_error(
                    f"variables file: expected a mapping of names to values, found "
                    f"{type(data).__name__}", Location(str(path)))
            else:
                sources = {}
                for key in data:
                    if not isinstance(key, str):
                        raise inventory_error(f"expected a variable name, found {key!r}",
                                              loaded.location((key,)))
                    line, column = loaded.keys.get((key,), (None, None))
                    sources[key] = VarSource(str(path), line, column, (key,), loaded.vaulted,
                                             {"node": loaded.nodes[(key,)]}
                                             if (key,) in loaded.nodes else {})
                self.parsed[path] = (data, sources)
        return self.parsed[path]

    def variables(self, base: Path, kind: str, name: str
                  ) -> tuple[dict[str, Any], dict[str, VarSource]]:
        """Merged variables of `name` from BASE/{kind} (kind: group_vars or host_vars)."""
        place = (base, kind)
        if place not in self.folders:  # most projects have no such folder: ask once
            candidate = base / kind
            self.folders[place] = candidate if candidate.is_dir() else None
        folder = self.folders[place]
        if folder is None:
            return {}, {}
        key = (folder, name)
        if key not in self.listed:
            self.listed[key] = find_files(folder, name)
        values: dict[str, Any] = {}
        sources: dict[str, VarSource] = {}
        for path in self.listed[key]:
            data, where = self.read(path)
            values.update(data)
            sources.update(where)
        return values, sources
