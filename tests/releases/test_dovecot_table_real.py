"""Every entry of the Dovecot 2.3 <-> 2.4 table, proven with both versions' doveconf.

For each entry: the 2.3 spelling (its example) is accepted by Dovecot 2.3 and refused by
2.4; what mailstate writes for 2.4 is accepted by 2.4; for a rename, the 2.4 spelling is
refused by 2.3 and translated back it is the 2.3 original, which 2.3 accepts.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailstate.releases.dovecot_renames import ENTRIES, Rename
from mailstate.releases.dovecot_translate import translate
from tests.releases.realtools import Release, Result, dovecot_snippet

Path = tuple[str, ...]
# passdb/userdb sections need a driver in 2.3 whatever else they hold
DRIVERS = {"passdb": "pam", "userdb": "passwd"}


def example(entry: Rename) -> dict[Path, str]:
    path, value = entry.example
    settings = {path: value}
    section = path[0] if len(path) > 1 else ""
    if section in DRIVERS and path[-1] != "driver":
        settings = {(section, "driver"): DRIVERS[section], **settings}
    return settings


def named(settings: dict[Path, str]) -> dict[Path, str]:
    """Unnamed passdb/userdb named by their driver: the setting alone is then on trial."""
    return {tuple(f"{s} {DRIVERS[s]}" if s in DRIVERS else s for s in p[:-1]) + p[-1:]: v
            for p, v in settings.items()}


def refused(result: Result, *words: str) -> bool:
    """doveconf failed, and its error names the setting or section."""
    return not result.ok and any(w in result.stderr for w in words)


def ids(entry: Rename) -> str:
    return re.sub(r"\W+", "-", entry.old).strip("-")


@pytest.fixture(scope="module")
def verdicts(bookworm: Release, trixie: Release) -> dict[str, dict[str, Result]]:
    """Every doveconf run the entries need, two at a time (the machine has 2 cores)."""
    jobs: dict[tuple[str, str], tuple[Release, bytes]] = {}
    for entry in ENTRIES:
        old = example(entry)
        new = translate(old, "2.4")
        assert not [p for p in new.problems if p.severity == "error"] or \
            entry.kind in ("changed", "removed"), (entry.old, new.problems)
        jobs[(entry.old, "old on 2.3")] = (bookworm, dovecot_snippet(old))
        on_trial = old if entry.kind == "section" else named(old)
        jobs[(entry.old, "old on 2.4")] = (trixie, dovecot_snippet(on_trial))
        written = {p: v for p, v in new.settings.items() if v is not None}
        if entry.kind not in ("changed", "removed"):
            jobs[(entry.old, "new on 2.4")] = (trixie, dovecot_snippet(written))
        if entry.kind == "rename":
            jobs[(entry.old, "new on 2.3")] = (bookworm, dovecot_snippet(written))
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(jobs, pool.map(lambda j: j[0].doveconf(j[1]), jobs.values()),
                           strict=True))
    out: dict[str, dict[str, Result]] = {}
    for (spelling, what), result in results.items():
        out.setdefault(spelling, {})[what] = result
    return out


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_entry_against_both_doveconf(entry: Rename,
                                     verdicts: dict[str, dict[str, Result]]) -> None:
    runs = verdicts[entry.old]
    name = entry.old_name if entry.kind != "section" else entry.old.split()[0]
    assert runs["old on 2.3"].ok, runs["old on 2.3"].stderr
    assert refused(runs["old on 2.4"], name, "Unknown protocol"), runs["old on 2.4"]
    if "new on 2.4" in runs:
        assert runs["new on 2.4"].ok, runs["new on 2.4"].stderr
    if entry.kind == "rename":
        assert refused(runs["new on 2.3"], entry.new_name), runs["new on 2.3"]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.kind == "rename"], ids=ids)
def test_rename_round_trips(entry: Rename) -> None:
    """2.3 -> 2.4 -> 2.3 gives the original back (the meaning is the same both ways)."""
    old = example(entry)
    there = translate(old, "2.4")
    written = {p: v for p, v in there.settings.items() if v is not None}
    assert entry.new_name in {p[-1] for p in written}
    back = translate(written, "2.3")
    assert {p: v for p, v in back.settings.items() if v is not None} == old
    assert not back.problems and not there.problems


def test_adding_a_protocol_on_24(trixie: Release) -> None:
    """`protocols: {lmtp: yes}` adds to 2.4's protocol list; `$protocols` is refused."""
    block = translate({("protocols", "lmtp"): "yes"}, "2.4")
    assert block.problems == []
    added = trixie.doveconf(dovecot_snippet(block.settings))
    assert added.ok and "  lmtp = yes" in added.stdout, added.stderr
    assert translate({("protocols",): "$protocols lmtp"}, "2.4").problems
