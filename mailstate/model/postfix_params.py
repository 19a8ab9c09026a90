"""Every main.cf parameter the supported Postfix releases know, with kind and default.

The tables are generated from each release's own `postconf -d` (tools/release_tables.py
writes `mailstate/releases/data/postfix_<series>.py`); the kind decides how a value is
checked and rendered (see `values.py`). Two kinds of names exist:

- built-in parameters (`smtpd_tls_security_level`), fixed per Postfix version;
- `<service>_<suffix>` parameters (`smtp_destination_concurrency_limit`,
  `dovecot_destination_recipient_limit`) that Postfix defines for every master.cf service
  running a delivery agent: which suffixes a service gets depends on its command.

`table(series)` is one release's table, loaded on first use (import time matters: a plan
of Debian 12 hosts never reads the 3.10 table). `KINDS` and `DEFAULTS` answer for *any*
supported release, for the state model: a name is accepted when some supported Postfix
knows it, and the host's own version is judged at plan time (`releases.postfix`).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

SERIES = ("3.7", "3.10")  # oldest first; keep in step with releases.catalog.RELEASES
_SERVICE = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # compiled on first use (re caches it)


class TransportSuffix(NamedTuple):
    """A per-service parameter suffix and the commands (delivery agents) that get it."""

    kind: str
    default: str
    commands: frozenset[str]


class ParamTable(NamedTuple):
    """One Postfix series: built-in parameters, per-service suffixes, Debian's master.cf."""

    series: str
    version: str
    kinds: dict[str, str]
    defaults: dict[str, str]
    suffixes: dict[str, TransportSuffix]
    stock_master: tuple[tuple[str, str, str], ...]  # (service, type, command)

    def split_transport(self, name: str) -> list[tuple[str, str]]:
        """Every (service, suffix) reading of `name` as a per-service parameter."""
        readings = [(name[: -len(s) - 1], s) for s in self.suffixes
                    if name.endswith("_" + s) and re.fullmatch(_SERVICE, name[: -len(s) - 1])]
        return sorted(readings, key=lambda r: len(r[0]))  # the longest suffix first

    def kind(self, name: str) -> str | None:
        """The kind of a built-in or per-service name (whatever master.cf holds)."""
        if name in self.kinds:
            return self.kinds[name]
        readings = self.split_transport(name)
        return self.suffixes[readings[0][1]].kind if readings else None

    def default(self, name: str) -> str | None:
        if name in self.defaults:
            return self.defaults[name]
        readings = self.split_transport(name)
        return self.suffixes[readings[0][1]].default if readings else None

    def knows(self, name: str, services: Mapping[str, str]) -> bool:
        """Whether this Postfix knows `name` given master.cf's services (name -> command)."""
        if name in self.kinds:
            return True
        return any(services.get(service) in self.suffixes[suffix].commands
                   for service, suffix in self.split_transport(name))

    def stock_services(self) -> dict[str, str]:
        """Debian's stock master.cf as service name -> command (unix services win)."""
        services: dict[str, str] = {}
        for name, kind, command in self.stock_master:
            if kind == "unix" or name not in services:
                services[name] = command
        return services

    def stock_names(self) -> list[str]:
        """Built-in names plus the per-service names of Debian's stock master.cf."""
        services = self.stock_services()
        extra = [f"{service}_{suffix}" for service, command in services.items()
                 for suffix, spec in self.suffixes.items() if command in spec.commands]
        return sorted({*self.kinds, *extra})


def _rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line:
            yield line.split(" ", 3)


@functools.cache
def table(series: str) -> ParamTable:
    """The table of one supported series ("3.7", "3.10"), imported on first use."""
    if series not in SERIES:
        raise KeyError(f"no parameter table for Postfix {series}")
    data = importlib.import_module(f"mailstate.releases.data.postfix_{series.replace('.', '_')}")
    kinds: dict[str, str] = {}
    defaults: dict[str, str] = {}
    for line in data.PARAMETERS.splitlines():
        if line:
            name, kind, *rest = line.split(" ", 2)
            kinds[name], defaults[name] = kind, (rest[0] if rest else "")
    suffixes = {row[0]: TransportSuffix(row[1], row[3] if len(row) > 3 else "",
                                        frozenset(row[2].split(",")))
                for row in _rows(data.TRANSPORT_SUFFIXES)}
    stock = tuple((row[0], row[1], row[2]) for row in _rows(data.STOCK_MASTER))
    return ParamTable(series, data.VERSION, kinds, defaults, suffixes, stock)


class _AnyRelease(Mapping[str, str]):
    """kind (or default: the oldest release's) of a name in any supported release.

    The tables are read on the first lookup, not at import (~1 ms for both): `mailstate
    --help` and commands without a Postfix state never read them.
    """

    def __init__(self, what: str) -> None:
        self._what = what

    def _value(self, t: ParamTable, name: str) -> str | None:
        return t.kind(name) if self._what == "kind" else t.default(name)

    def __getitem__(self, name: str) -> str:
        values = [v for v in (self._value(table(s), name) for s in SERIES) if v is not None]
        if not values:
            raise KeyError(name)
        if self._what == "default" or len(set(values)) == 1:
            return values[0]
        return "str"  # the releases disagree (yes/no in 3.7, a word in 3.10): accept text

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return any(self._value(table(s), name) is not None for s in SERIES)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({n for s in SERIES for n in table(s).stock_names()}))

    def __len__(self) -> int:
        return sum(1 for _ in self)


KINDS: Mapping[str, str] = _AnyRelease("kind")
DEFAULTS: Mapping[str, str] = _AnyRelease("default")
