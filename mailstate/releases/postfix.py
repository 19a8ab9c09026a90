"""A state's main.cf parameters against one Postfix series.

The state model accepts a parameter when any supported Postfix knows it; this decides
for one version, and for the `<service>_<suffix>` parameters (`smtp_destination_rate_delay`)
it asks master.cf: Postfix defines those only for services that run a delivery agent.
Used by the plan (the host's version and its master.cf after the state's edits) and by
`mailstate lint --target` (the release's stock master.cf plus the state's services).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mailstate.model import postfix_params
from mailstate.releases.dovecot_translate import Problem

POSTCONF = "postconf(5) https://www.postfix.org/postconf.5.html"


def state_services(postfix: Any, base: Mapping[str, str]) -> dict[str, str]:
    """master.cf services (name -> command) once the state's master entries are applied."""
    services = dict(base)
    for key, entry in postfix.master.items():
        name, _, kind = key.rpartition("/")
        if entry.absent:
            if kind == "unix" or services.get(name) is None:
                services.pop(name, None)
        elif entry.command and (kind == "unix" or name not in services):
            services[name] = entry.command.split()[0]
    return services


def services_of(master_cf: bytes) -> dict[str, str]:
    """master.cf bytes -> service name -> command (a unix service wins over inet)."""
    from mailstate.formats.mastercf import MasterCf

    services: dict[str, str] = {}
    for service in MasterCf.parse(master_cf, "master.cf").services():
        command = service.command.split()[0] if service.command.split() else ""
        if service.type == "unix" or service.name not in services:
            services[service.name] = command
    return services


def parameter_problems(postfix: Any, series: str,
                       services: Callable[[], Mapping[str, str]]) -> Iterator[Problem]:
    """Every typed main.cf parameter and `-o` option of the state Postfix `series` lacks.

    `services` is called only when a per-service name needs master.cf.
    """
    table = postfix_params.table(series)
    fields = type(postfix.main).model_fields
    names = [(fields[f].alias or f) for f in postfix.main.model_fields_set if f in fields]
    known_services: Mapping[str, str] | None = None
    for name in names:
        if name in table.kinds:
            continue
        if known_services is None:
            known_services = services()
        if not table.knows(name, known_services):
            yield _problem(("postfix", "main", name), name, table, known_services)
    for key, entry in postfix.master.items():
        for option in entry.options:
            if option not in table.kinds and any(
                    option in postfix_params.table(s).kinds for s in postfix_params.SERIES):
                yield _problem(("postfix", "master", key, "options", option), option, table, {})


def _problem(path: tuple[str, ...], name: str, table: postfix_params.ParamTable,
             services: Mapping[str, str]) -> Problem:
    others = [s for s in postfix_params.SERIES
              if s != table.series and name in postfix_params.table(s).kinds]
    readings = table.split_transport(name)
    if others:
        newer = any(_newer(s, table.series) for s in others)
        why = f"{'new in' if newer else 'only in'} Postfix {', '.join(others)}"
        fix = ("leave it out for these hosts (a state layer per release), or upgrade "
               "Postfix") if newer else "leave it out for these hosts"
    elif readings:
        service, suffix = readings[0]
        commands = ", ".join(sorted(table.suffixes[suffix].commands))
        found = services.get(service)
        why = (f"Postfix defines {suffix} only for master.cf services running a delivery "
               f"agent ({commands}); " + (f"{service} runs {found}" if found else
                                         f"master.cf has no service {service}"))
        fix = f"define the service in postfix.master ('{service}/unix') or fix the name"
    else:
        why, fix = "unknown to this version", "check the name (postconf -d)"
    return Problem(path, "error", f"{'.'.join(path)}: Postfix {table.series} has no "
                   f"parameter {name} ({why})", fix=fix, reference=POSTCONF)


def _newer(a: str, b: str) -> bool:
    return tuple(map(int, a.split("."))) > tuple(map(int, b.split(".")))
