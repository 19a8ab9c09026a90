"""Rendering is total: any value the model accepts, the real tool reads back exactly.

For each file kind, hypothesis draws hostile-looking text (newlines, NUL, braces, quotes,
`#`, `$`, `<`, blanks, non-ASCII). The model either refuses a value or normalises it;
every accepted value is written by the editor into a copy of a real config, and the
daemon's own reader (`postconf -h`/`-P`/`-F`, `postmap -s`, `doveconf -h`/`-n`, PHP
`include` + `json_encode`) must return exactly the model's value, with nothing else in
the file changed. One tool call reads a whole batch of values, so each example costs a
few tool runs; example counts are bounded to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
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

from .conftest import DATA, read

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


def tool(*args: str, cwd: str | None = None) -> str:
    """Run a real tool; its output as text (bytes that are not UTF-8 kept as escapes)."""
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed (./run setup installs it)")
    done = subprocess.run(args, capture_output=True, timeout=60, check=False, cwd=cwd)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode("utf-8", "surrogateescape")


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
@given(st.lists(text, min_size=len(PARAMS), max_size=len(PARAMS)))
def test_main_cf_values_read_back_by_postconf(values: list[str]) -> None:
    wanted: dict[str, str] = {}
    for name, value in zip(PARAMS, values, strict=True):
        state = accepted(lambda n=name, v=value: PostfixState.model_validate({"main": {n: v}}))
        if state is not None:
            wanted[name] = state.main_values()[name]
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("main.cf", "master.cf"):
            write_cool(Path(tmp, name), read(f"/etc/postfix/{name}"))
        before = tool("postconf", "-c", tmp, "-n").splitlines()
        doc = MainCf.parse(read("/etc/postfix/main.cf"))
        for name, value in wanted.items():
            doc.set(name, value)
        write_cool(Path(tmp, "main.cf"), doc.render())
        if wanted:
            shown = tool("postconf", "-c", tmp, "-nh", *wanted).split("\n")[:-1]
            assert shown == list(wanted.values())
        after = tool("postconf", "-c", tmp, "-n").splitlines()
        assert [x for x in after if x.split(" =")[0] not in wanted] == \
            [x for x in before if x.split(" =")[0] not in wanted]


def _extpar(word: str) -> str:
    """A `{ ... }` argument as master(8) passes it on: braces and blanks stripped."""
    return word[1:-1].strip(" \t") if word.startswith("{") else word


@FAST
@given(st.lists(st.tuples(text, text, text), min_size=4, max_size=4))
def test_master_cf_commands_and_options_read_back_by_postconf(
        services: list[tuple[str, str, str]]) -> None:
    wanted: dict[str, tuple[list[str], dict[str, str]]] = {}
    for n, (args, first, second) in enumerate(services):
        options = {PARAMS[0]: first, PARAMS[n + 1]: second}
        state = accepted(lambda a=args, o=options: MasterServiceState.model_validate(
            {"command": "pipe " + a, "options": o}))
        if state is not None:
            wanted[f"t{n}"] = (split_words(state.command)[1:], dict(state.options))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("main.cf", "master.cf"):
            write_cool(Path(tmp, name), read(f"/etc/postfix/{name}"))
        stock_m = tool("postconf", "-c", tmp, "-M")
        stock_p = tool("postconf", "-c", tmp, "-P")
        doc = MasterCf.parse(read("/etc/postfix/master.cf"))
        for name, (args, options) in wanted.items():
            doc.ensure(name, "unix", {"command": " ".join(["pipe", *args])}, options)
        write_cool(Path(tmp, "master.cf"), doc.render())
        params = tool("postconf", "-c", tmp, "-P").splitlines()
        entries = tool("postconf", "-c", tmp, "-M")
        for name, (args, options) in wanted.items():
            found = (re.fullmatch(rf"{name}/unix/(\S+) =(?: (.*))?", line) for line in params)
            assert {m[1]: m[2] or "" for m in found if m} == options
            field = tool("postconf", "-c", tmp, "-F", f"{name}/unix/command")
            words = split_words(field.partition(" =")[2].strip(" \n"))[1:]
            while words[:1] == ["-o"]:
                words = words[2:]
            assert [_extpar(w) for w in words] == [_extpar(w) for w in args]
        assert [x for x in params if not re.match(r"t\d/", x)] == stock_p.splitlines()
        heads = [x for x in entries.split("\n") if x and not x[0].isspace()]
        stock_heads = [x for x in stock_m.split("\n") if x and not x[0].isspace()]
        assert [h for h in heads if not re.match(r"t\d ", h)] == stock_heads
        assert len(heads) == len(stock_heads) + len(wanted)


@FAST
@given(st.lists(st.tuples(text, text), min_size=1, max_size=10), st.booleans())
def test_lookup_entries_read_back_by_postmap(pairs: list[tuple[str, str]],
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
    with tempfile.TemporaryDirectory() as tmp:
        write_cool(Path(tmp, "table"), doc.render())
        tool("postmap", f"hash:{tmp}/table")
        dump = tool("postmap", "-s", f"hash:{tmp}/table")
    assert dict(line.split("\t", 1) for line in dump.splitlines()) == expected


DOVECOT_BASE = (b"protocols =\nssl = no\nlogin_greeting = ready\nplugin {\n  keep = 1\n}\n"
                b"namespace inbox {\n  inbox = yes\n}\n")


def _mailboxes(dump: str) -> list[str]:
    names = re.findall(r"^  mailbox (.*) \{$", dump, re.M)
    return [n[1:-1] if n.startswith('"') and n.endswith('"') else n for n in names]


@FAST
@given(st.lists(text, min_size=8, max_size=8), text, st.lists(text, min_size=2, max_size=2))
def test_dovecot_values_and_section_names_read_back_by_doveconf(
        values: list[str], greeting: str, mailboxes: list[str]) -> None:
    flat: dict[tuple[str, ...], str] = {}
    for n, value in enumerate(values):
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
    with tempfile.TemporaryDirectory() as tmp:
        root = f"{tmp}/dovecot.conf"
        Path(root).write_bytes(DOVECOT_BASE)
        before = tool("doveconf", "-c", root, "-n").split("\n")
        doc = DovecotConfig.load({root: DOVECOT_BASE}, root)
        for path, value in flat.items():
            doc.set(path, value)
        Path(root).write_bytes(doc.render(root))
        plain = {p: v for p, v in flat.items() if p[0] != "namespace inbox"}
        if plain:
            keys = ["/".join(p) for p in plain]
            assert tool("doveconf", "-c", root, "-h", *keys).split("\n")[:-1] == \
                list(plain.values())
        dump = tool("doveconf", "-c", root, "-n")
        assert sorted(_mailboxes(dump)) == sorted(names)  # doveconf -n sorts them
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


@FAST
@given(st.lists(php_values, min_size=6, max_size=6))
def test_roundcube_values_read_back_by_php(values: list[Any]) -> None:
    wanted: dict[str, Any] = {}
    for n, value in enumerate(values):
        key = ("smtp_pass", "plugins", "imap_conn_options", "product_name", "x_y", "a.b-c")[n]
        state = accepted(lambda k=key, v=value: RoundcubeState.model_validate(
            {"config": {k: v}}))
        if state is not None:
            wanted[key] = value
    php = ('$config = []; include "{}"; echo json_encode($config, '
           "JSON_UNESCAPED_UNICODE|JSON_UNESCAPED_SLASHES);")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp, "config.inc.php")
        target.write_bytes((DATA / "config.inc.php").read_bytes())
        before = json.loads(tool("php", "-d", "display_errors=stderr", "-r",
                                 php.format(target)))
        doc = PhpConfig.parse(target.read_bytes())
        doc.update(wanted)
        target.write_bytes(doc.render())
        done = subprocess.run(["php", "-d", "display_errors=stderr", "-r",
                               php.format(target)], capture_output=True, text=True,
                              check=False, timeout=60)
    after = json.loads(done.stdout)
    assert {k: after.get(k, "(absent)") for k in wanted} == {  # a top-level null removes
        k: "(absent)" if v is None else _as_json(v) for k, v in wanted.items()}
    assert {k: v for k, v in after.items() if k not in wanted} == \
        {k: v for k, v in before.items() if k not in wanted}
