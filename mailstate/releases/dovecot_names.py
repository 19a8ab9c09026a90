"""Which setting names a Dovecot series knows, from its own `doveconf -ds`.

The tables (`data/dovecot_<series>.py`, generated) are read on first use. Dovecot 2.3
nests service and listener settings in sections and leaves passdb/userdb/namespace/
plugin contents to their drivers, so there only some places can be judged; 2.4 lists
every setting flat and finds `key` inside `passdb sql { }` as `passdb_key` or
`passdb_sql_key`, and mailstate looks names up the same way.
"""

from __future__ import annotations

import functools
import importlib
from typing import NamedTuple

Path = tuple[str, ...]
# Sections whose contents are global settings in 2.3 (filters), and those it checks.
FILTERS_23 = ("protocol", "local", "remote", "local_name")
CHECKED_23 = ("service", "inet_listener", "unix_listener", "fifo_listener")
SPECIAL = frozenset({"dovecot_config_version"})  # read by the config parser itself


class SeriesNames(NamedTuple):
    series: str
    version: str
    top: frozenset[str]
    sections: dict[str, frozenset[str]]  # section type -> setting names directly inside

    def knows(self, path: Path) -> bool | None:
        """True/False when this version's tables can tell; None when they cannot."""
        name = path[-1]
        if name in SPECIAL:
            return self.series != "2.3"
        kinds = [section.partition(" ")[0] for section in path[:-1]]
        if self.series == "2.3":
            return self._knows_23(name, kinds)
        return self._knows_24(name, path[:-1])

    def _knows_23(self, name: str, kinds: list[str]) -> bool | None:
        inner = kinds[-1] if kinds else ""
        if all(k in FILTERS_23 for k in kinds):
            return name in self.top
        if inner in CHECKED_23:
            return name in self.sections.get(inner, frozenset())
        return None  # passdb, userdb, namespace, plugin, dict...: free-form in 2.3

    def _knows_24(self, name: str, sections: Path) -> bool:
        if name in self.top:
            return True
        for section in sections:
            kind, _, title = section.partition(" ")
            if not title and kind in self.top:
                return True  # a list setting written as a block: protocols { imap = yes }
            candidates = [f"{kind}_{name}"]
            if title:
                label = title.strip('"').replace("-", "_")
                candidates.append(f"{kind}_{label}_{name}")
            if any(c in self.top for c in candidates):
                return True
        return False


@functools.cache
def names(series: str) -> SeriesNames:
    data = importlib.import_module(f"mailstate.releases.data.dovecot_{series.replace('.', '_')}")
    table: dict[str, str] = data.NAMES
    top = frozenset(w for w in table[""].split() if w != "{}")
    sections: dict[str, set[str]] = {}
    for where, words in table.items():
        if where:
            kind = where.rpartition("/")[2]
            sections.setdefault(kind, set()).update(w for w in words.split() if w != "{}")
    return SeriesNames(series, data.VERSION, top,
                       {k: frozenset(v) for k, v in sections.items()})


def gone_in_24(path: Path) -> bool:
    """Dovecot 2.3 knew this setting here and 2.4 does not: 2.4 refuses it."""
    return names("2.3").knows(path) is True and not names("2.4").knows(path)


def new_in_24(path: Path) -> bool:
    """Dovecot 2.4 knows this setting and 2.3 (which can tell here) does not."""
    return names("2.3").knows(path) is False and bool(names("2.4").knows(path))
