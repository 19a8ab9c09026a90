"""Rendering is total: any value the model accepts, the real tool reads back exactly.

For each file kind, hypothesis draws hostile-looking text (newlines, NUL, braces, quotes,
`#`, `$`, `<`, blanks, non-ASCII). The model either refuses a value or normalises it;
every accepted value is written by the editor into a copy of a real config, and the
daemon's own reader (`postconf -h`/`-P`/`-F`, `postmap -s`, `doveconf -h`/`-n`, PHP
`include` + `json_encode`) must return exactly the model's value, with nothing else in
the file changed. Each test runs with Debian 12's tools (this machine's: Postfix 3.7,
Dovecot 2.3, PHP 8.2) and Debian 13's (Postfix 3.10, Dovecot 2.4, PHP 8.4, chrooted in a
throw-away overlay of the cached root filesystem, `mailstate.lab.rootfs`). One tool call
reads a whole batch of values, so each example costs a few tool runs; example counts are
bounded to keep the suite fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.lookup import LookupTable
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf, split_words
from mailstate.formats.roundcube import PhpConfig
from mailstate.model.dovecot import DovecotState
from mailstate.model.postfix import LookupMapState, MasterServiceState, PostfixState
from mailstate.model.roundcube import RoundcubeState

from .conftest import DATA

# 20 fixed examples per tool in the suite; MAILSTATE_PROPERTY_EXAMPLES=500 explores more
DEEP = int(os.environ.get("MAILSTATE_PROPERTY_EXAMPLES", "0"))
FAST = settings(max_examples=DEEP or 20, deadline=None, derandomize=not DEEP,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HOSTILE = [*" \t\n\r\x00\x1b{}[]()\"'\\#$<>=,;:/@%*?!~`|&.-_+", "ü", "é", "ß", "日",
           "\u2028", "\x85"]
char = st.one_of(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                 st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                 st.sampled_from(HOSTILE))
text = st.text(alphabet=char, min_size=0, max_size=16)
# main.cf parameters Postfix prints back as written (kind "str", no side effects)
PARAMS = ["smtpd_banner", "2bounce_notice_recipient", "bounce_notice_recipient",
          "delay_notice_recipient", "error_notice_recipient", "smtpd_reject_footer",
          "smtp_helo_name", "mail_name", "relayhost", "smtpd_sasl_local_domain",
          "smtp_sasl_mechanism_filter", "smtpd_sasl_authenticated_header"]


class Tools:
    """One release's real tools: this machine's (root "/") or chrooted in an overlay."""

    def __init__(self, release: str, root: Path) -> None:
        self.release, self.root = release, root

    def run(self, *args: str) -> str:
        """Run a tool (paths as the tool sees them); stdout as text, bytes that are not
        UTF-8 kept as escapes."""
        if self.root == Path("/"):
            if shutil.which(args[0]) is None:
                pytest.fail(f"{args[0]} is not installed (./run setup installs it)")
            done = subprocess.run(args, capture_output=True, timeout=60, check=False)
        else:
            from mailstate.lab.rootfs import chroot_run

            done = chroot_run(self.root, list(args))
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode("utf-8", "surrogateescape")

    def stock(self, path: str) -> bytes:
        return (self.root / path.lstrip("/")).read_bytes()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[tuple[Path, str]]:
        """A temporary directory: (its path here, its path as the tools see it)."""
        with tempfile.TemporaryDirectory(dir=self.root / "tmp") as tmp:
            yield Path(tmp), "/" + str(Path(tmp).relative_to(self.root))


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def tools(request: pytest.FixtureRequest) -> Iterator[Tools]:
    if request.param == "bookworm":
        yield Tools("bookworm", Path("/"))
        return
    if os.geteuid() != 0:  # a chroot overlay needs root (CI runs as root)
        pytest.fail("Debian 13's tools need root (mount, chroot): run as root, as CI does")
    from mailstate.lab.rootfs import overlay

    with overlay("trixie") as root:
        yield Tools("trixie", root)


def write_cool(path: Path, data: bytes) -> None:
    """Write a file dated 10 s back: Postfix re-reads a file modified within the last
    second in 300 ms naps until it "cools down" (load_file.c)."""
    path.write_bytes(data)
    then = time.time() - 10
    os.utime(path, (then, then))


def accepted(validate: Any) -> Any:
    """The model's value, or None when the model refuses it (with its own message)."""
    try:
        return validate()
    except ValidationError as exc:  # refused by one of mailstate's own checks
        assert {e["type"] for e in exc.errors()} <= {"mailstate", "mailstate_multi"}, exc
        return None


@FAST
@given(values=st.lists(text, min_size=len(PARAMS), max_size=len(PARAMS)))
def test_main_cf_values_read_back_by_postconf(tools: Tools, values: list[str]) -> None:
    wanted: dict[str, str] = {}
    for name, value in zip(PARAMS, values, strict=True):
        state = accepted(lambda n=name, v=value: PostfixState.model_validate({"main": {n: v}}))
        if state is not None:
            wanted[name] = state.main_values()[name]
    with tools.scratch() as (here, there):
        for name in ("main.cf", "master.cf"):
            write_cool(here / name, tools.stock(f"/etc/postfix/{name}"))
        before = tools.run("postconf", "-c", there, "-n").splitlines()
        doc = MainCf.parse(tools.stock("/etc/postfix/main.cf"))
        for name, value in wanted.items():
            doc.set(name, value)
        write_cool(here / "main.cf", doc.render())
        if wanted:
            shown = tools.run("postconf", "-c", there, "-nh", *wanted).split("\n")[:-1]
            assert shown == list(wanted.values())
        after = tools.run("postconf", "-c", there, "-n").splitlines()
    assert [x for x in after if x.split(" =")[0] not in wanted] == \
        [x for x in before if x.split(" =")[0] not in wanted]


def _extpar(word: str) -> str:
    """A `{ ... }` argument as master(8) passes it on: braces and blanks stripped."""
    return word[1:-1].strip(" \t") if word.startswith("{") else word


@FAST
@given(services=st.lists(st.tuples(text, text, text), min_size=4, max_size=4))
def test_master_cf_commands_and_options_read_back_by_postconf(
        tools: Tools, services: list[tuple[str, str, str]]) -> None:
    wanted: dict[str, tuple[list[str], dict[str, str]]] = {}
    for n, (args, first, second) in enumerate(services):
        options = {PARAMS[0]: first, PARAMS[n + 1]: second}
        state = accepted(lambda a=args, o=options: MasterServiceState.model_validate(
            {"command": "pipe " + a, "options": o}))
        if state is not None:
            wanted[f"t{n}"] = (split_words(state.command)[1:], dict(state.options))
    with tools.scratch() as (here, there):
        for name in ("main.cf", "master.cf"):
            write_cool(here / name, tools.stock(f"/etc/postfix/{name}"))
        stock_m = tools.run("postconf", "-c", there, "-M")
        stock_p = tools.run("postconf", "-c", there, "-P")
        doc = MasterCf.parse(tools.stock("/etc/postfix/master.cf"))
        for name, (args, options) in wanted.items():
            doc.ensure(name, "unix", {"command": " ".join(["pipe", *args])}, options)
        write_cool(here / "master.cf", doc.render())
        params = tools.run("postconf", "-c", there, "-P").splitlines()
        entries = tools.run("postconf", "-c", there, "-M")
        fields = {name: tools.run("postconf", "-c", there, "-F", f"{name}/unix/command")
                  for name in wanted}
    for name, (args, options) in wanted.items():
        found = (re.fullmatch(rf"{name}/unix/(\S+) =(?: (.*))?", line) for line in params)
        assert {m[1]: m[2] or "" for m in found if m} == options
        words = split_words(fields[name].partition(" =")[2].strip(" \n"))[1:]
        while words[:1] == ["-o"]:
            words = words[2:]
        assert [_extpar(w) for w in words] == [_extpar(w) for w in args]
    assert [x for x in params if not re.match(r"t\d/", x)] == stock_p.splitlines()
    heads = [x for x in entries.split("\n") if x and not x[0].isspace()]
    stock_heads = [x for x in stock_m.split("\n") if x and not x[0].isspace()]
    assert [h for h in heads if not re.match(r"t\d ", h)] == stock_heads
    assert len(heads) == len(stock_heads) + len(wanted)


@FAST
@given(pairs=st.lists(st.tuples(text, text), min_size=1, max_size=10), merge=st.booleans())
def test_lookup_entries_read_back_by_postmap(tools: Tools, pairs: list[tuple[str, str]],
                                             merge: bool) -> None:
    wanted: dict[str, str] = {}
    for key, value in pairs:
        if any(k.casefold() == key.casefold() for k in wanted):
            continue
        table = accepted(lambda k=key, v=value: LookupMapState.model_validate(
            {"content": {k: v}}))
        if table is not None:
            wanted.update(table.content)
    base = b"# kept\nkept.example  one value\n\nother.example two\n" if merge else b""
    doc = LookupTable.parse(base)
    for key, value in wanted.items():
        doc.set(key, value)
    expected = {"kept.example": "one value", "other.example": "two"} if merge else {}
    expected.update({k.casefold(): v for k, v in wanted.items()})
    with tools.scratch() as (here, there):
        write_cool(here / "table", doc.render())
        tools.run("postmap", f"hash:{there}/table")
        dump = tools.run("postmap", "-s", f"hash:{there}/table")
    assert dict(line.split("\t", 1) for line in dump.splitlines()) == expected


# A minimal config each release accepts; Dovecot 2.4 has no `plugin {}` and refuses
# unknown settings, so there only top-level text and section names are drawn.
DOVECOT_BASE = {
    "bookworm": b"protocols =\nssl = no\nlogin_greeting = ready\nplugin {\n  keep = 1\n}\n"
                b"namespace inbox {\n  inbox = yes\n}\n",
    "trixie": b"dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
              b"protocols =\nssl = no\nlogin_greeting = ready\n"
              b"namespace inbox {\n  inbox = yes\n}\n",
}


def _doveconf_value(line: str, release: str) -> str:
    """A `doveconf -h` line; Dovecot 2.4 prints a value that needs it in config quotes
    (with backslash escapes), 2.3 prints it as it is."""
    if release == "trixie" and len(line) >= 2 and line[0] == line[-1] == '"':
        return re.sub(r"\\(.)", r"\1", line[1:-1])
    return line


def _mailboxes(dump: str, release: str) -> list[str]:
    """Mailbox section names in `doveconf -n` (quoted when they need it)."""
    names = re.findall(r"^  mailbox (.*) \{$", dump, re.M)
    if release == "trixie":
        return [_doveconf_value(n, release) for n in names]
    return [n[1:-1] if n.startswith('"') and n.endswith('"') else n for n in names]


@FAST
@given(values=st.lists(text, min_size=8, max_size=8), greeting=text,
       mailboxes=st.lists(text, min_size=2, max_size=2))
def test_dovecot_values_and_section_names_read_back_by_doveconf(
        tools: Tools, values: list[str], greeting: str, mailboxes: list[str]) -> None:
    flat: dict[tuple[str, ...], str] = {}
    for n, value in enumerate(values if tools.release == "bookworm" else []):
        state = accepted(lambda n=n, v=value: DovecotState.model_validate(
            {"settings": {"plugin": {f"x{n}": v}}}))
        if state is not None:
            flat.update(state.settings_flat())
    state = accepted(lambda: DovecotState.model_validate({"settings": {"login_greeting":
                                                                       greeting}}))
    if state is not None:
        flat.update(state.settings_flat())
    names: list[str] = []
    for name in mailboxes:
        if "/" in name or not name.strip(" "):
            continue  # '/' splits a key into sections (model.dovecot's flat-key rule)
        state = accepted(lambda n=name: DovecotState.model_validate(
            {"settings": {"namespace inbox": {f"mailbox {n}": {"auto": "no"}}}}))
        if state is not None:
            path = next(iter(state.settings_flat()))
            if path[1] not in (f"mailbox {m}" for m in names):
                names.append(path[1].partition(" ")[2])
                flat[path] = "no"
    base = DOVECOT_BASE[tools.release]
    with tools.scratch() as (here, there):
        (here / "dovecot.conf").write_bytes(base)
        before = tools.run("doveconf", "-c", f"{there}/dovecot.conf", "-n").split("\n")
        doc = DovecotConfig.load({"/d.conf": base}, "/d.conf")
        for path, value in flat.items():
            doc.set(path, value)
        (here / "dovecot.conf").write_bytes(doc.render("/d.conf"))
        plain = {p: v for p, v in flat.items() if p[0] != "namespace inbox"}
        if plain:
            keys = ["/".join(p) for p in plain]
            shown = tools.run("doveconf", "-c", f"{there}/dovecot.conf", "-h", *keys)
            assert [_doveconf_value(x, tools.release) for x in shown.split("\n")[:-1]] == \
                list(plain.values())
        dump = tools.run("doveconf", "-c", f"{there}/dovecot.conf", "-n")
    assert sorted(_mailboxes(dump, tools.release)) == sorted(names)  # -n sorts them
    mine = re.compile(r"^\s*(x\d|login_greeting|mailbox .*|auto) = |^\s*mailbox |^\s*\}")
    assert [x for x in dump.split("\n") if not mine.match(x)] == \
        [x for x in before if not mine.match(x)]


keys = text.filter(lambda k: not re.fullmatch(r"-?[0-9]+", k))  # PHP makes those ints
php_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6)


def _as_json(value: Any) -> Any:
    """What json_encode prints for a PHP array built from this value."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()} if value else []
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


PHP = ('$config = []; include "{}"; echo json_encode($config, '
       "JSON_UNESCAPED_UNICODE|JSON_UNESCAPED_SLASHES);")


@FAST
@given(values=st.lists(php_values, min_size=6, max_size=6))
def test_roundcube_values_read_back_by_php(tools: Tools, values: list[Any]) -> None:
    wanted: dict[str, Any] = {}
    for n, value in enumerate(values):
        key = ("smtp_pass", "plugins", "imap_conn_options", "product_name", "x_y", "a.b-c")[n]
        state = accepted(lambda k=key, v=value: RoundcubeState.model_validate(
            {"config": {k: v}}))
        if state is not None:
            wanted[key] = value
    with tools.scratch() as (here, there):
        target = here / "config.inc.php"
        target.write_bytes((DATA / "config.inc.php").read_bytes())
        code = PHP.format(f"{there}/config.inc.php")
        before = json.loads(tools.run("php", "-d", "display_errors=stderr", "-r", code))
        doc = PhpConfig.parse(target.read_bytes())
        doc.update(wanted)
        target.write_bytes(doc.render())
        after = json.loads(tools.run("php", "-d", "display_errors=stderr", "-r", code))
    assert {k: after.get(k, "(absent)") for k in wanted} == {  # a top-level null removes
        k: "(absent)" if v is None else _as_json(v) for k, v in wanted.items()}
    assert {k: v for k, v in after.items() if k not in wanted} == \
        {k: v for k, v in before.items() if k not in wanted}
