"""Property tests: generated files round-trip; set-then-get; idempotence; locality."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailstate.formats.dovecot import DovecotConfig
from mailstate.formats.lookup import LookupTable
from mailstate.formats.maincf import MainCf
from mailstate.formats.mastercf import MasterCf
from mailstate.formats.roundcube import PhpConfig

FAST = settings(max_examples=60, deadline=None)
names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
# `$` only as Postfix reads it (a lone `$` is a fatal macro error; see maincf.value_problem)
words = st.from_regex(r"[A-Za-z0-9_/.:,%\[\]-]{1,12}|\$[a-z_]{1,8}|\$\$", fullmatch=True)
values = st.lists(words, min_size=0, max_size=3).map(" ".join)
newline = st.sampled_from(["\n", "\r\n"])


@st.composite
def main_cf(draw: st.DrawFn) -> bytes:
    nl = draw(newline)
    out = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["def", "comment", "blank", "cont"]))
        if kind == "def" or not out:
            sep = draw(st.sampled_from([" = ", "=", " =  ", "\t= "]))
            out.append(f"{draw(names)}{sep}{draw(values)}")
        elif kind == "comment":
            out.append("#" + draw(values))
        elif kind == "blank":
            out.append(draw(st.sampled_from(["", "  ", "\t"])))
        else:
            out.append("    " + draw(words))
    text = nl.join(out) + (nl if draw(st.booleans()) else "")
    return text.encode() + draw(st.sampled_from([b"", b"# \xff\xfe" + nl.encode()]))


@FAST
@given(main_cf(), names, values)
def test_main_cf_round_trip_set_get_idempotent_local(data: bytes, key: str, value: str) -> None:
    doc = MainCf.parse(data)
    assert doc.render() == data
    keys = doc.keys()
    others = {k: doc.get(k) for k in keys if k != key}
    doc.set(key, value)
    once = doc.render()
    assert doc.get(key) == value.strip()
    keys = doc.keys()
    assert {k: doc.get(k) for k in keys if k != key} == others
    doc.set(key, value)
    assert doc.render() == once
    assert MainCf.parse(once).render() == once
    doc.unset(key)
    assert doc.get(key) is None


@st.composite
def master_cf(draw: st.DrawFn) -> bytes:
    nl = draw(newline)
    out = ["# header"]
    for i in range(draw(st.integers(0, 5))):
        out.append(f"svc{i} {draw(st.sampled_from(['inet', 'unix']))}  n - y - - {draw(names)}")
        for _ in range(draw(st.integers(0, 3))):
            k, v = draw(names), draw(words)
            out.append(draw(st.sampled_from([f"  -o {k}={v}", f"  -o {{ {k} = {v} x }}",
                                             "#  -o commented=1", "  -v"])))
    return (nl.join(out) + (nl if draw(st.booleans()) else "")).encode()


@FAST
@given(master_cf(), st.dictionaries(names, st.one_of(st.none(), values), max_size=3))
def test_master_cf_round_trip_and_ensure(data: bytes, options: dict[str, str | None]) -> None:
    doc = MasterCf.parse(data)
    assert doc.render() == data
    before = [s for s in doc.services() if s.name != "svc0"]
    doc.ensure("svc0", "unix", {"command": "smtpd", "maxproc": "7"}, options)
    once = doc.render()
    service = doc.get("svc0", "unix")
    assert service is not None and service.maxproc == "7"
    for k, v in options.items():
        assert service.options.get(k) == (v.strip() if v is not None else None)
    assert [s for s in doc.services() if s.name != "svc0"] == before
    doc.ensure("svc0", "unix", {"command": "smtpd", "maxproc": "7"}, options)
    assert doc.render() == once


@FAST
@given(st.lists(st.tuples(names, words), max_size=6), newline, names, words)
def test_lookup_round_trip_and_set(pairs: list[tuple[str, str]], nl: str, key: str,
                                   value: str) -> None:
    data = "".join(f"{k}\t{v}{nl}" if i % 2 else f"# c{nl}{k} {v}{nl}"
                   for i, (k, v) in enumerate(pairs)).encode()
    doc = LookupTable.parse(data)
    assert doc.render() == data
    doc.set(key.upper(), value)
    once = doc.render()
    assert doc.get(key) == value
    doc.set(key, value)
    assert doc.render() == once


@st.composite
def dovecot_conf(draw: st.DrawFn) -> bytes:
    nl = draw(newline)
    out: list[str] = []
    depth = 0
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["set", "open", "close", "comment", "blank"]))
        pad = "  " * depth
        if kind == "set":
            out.append(f"{pad}{draw(names)} = {draw(values)}{draw(st.sampled_from(['', ' # c']))}")
        elif kind == "open":
            out.append(f"{pad}{draw(st.sampled_from(['service', 'plugin']))} {draw(names)} {{")
            depth += 1
        elif kind == "close" and depth:
            depth -= 1
            out.append("  " * depth + "}")
        elif kind == "comment":
            out.append(f"{pad}#{draw(values)}")
        else:
            out.append("")
    out += ["  " * d + "}" for d in reversed(range(depth))]
    return (nl.join(out) + nl).encode()


@FAST
@given(dovecot_conf(), st.lists(names, min_size=1, max_size=3), words)
def test_dovecot_round_trip_set_get(data: bytes, path: list[str], value: str) -> None:
    root = "/etc/dovecot/dovecot.conf"
    doc = DovecotConfig.load({root: data}, root)
    assert doc.render(root) == data
    setting = (*(f"service {p}" for p in path[:-1]), path[-1])
    doc.set(setting, value)
    once = doc.render(root)
    assert doc.get(setting) == value
    doc.set(setting, value)
    assert doc.render(root) == once
    again = DovecotConfig.load({root: once}, root)
    assert again.get(setting) == value


php_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
              st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(names, inner, max_size=3)),
    max_leaves=6)


@FAST
@given(st.lists(st.tuples(names, php_values), max_size=4), names, php_values)
def test_php_round_trip_set(pairs: list[tuple[str, object]], key: str, value: object) -> None:
    doc = PhpConfig.parse(b"<?php\n$config = [];\n")
    for k, v in pairs:
        doc.set(k, v)  # type: ignore[arg-type]
    data = doc.render()
    assert PhpConfig.parse(data).render() == data
    doc.set(key, value)  # type: ignore[arg-type]
    once = doc.render()
    doc.set(key, value)  # type: ignore[arg-type]
    assert doc.render() == once
    assert PhpConfig.parse(once).keys() == doc.keys()


@settings(max_examples=60, deadline=None)
@given(main_cf(), st.lists(st.tuples(names, values), min_size=1, max_size=6))
def test_maincf_incremental_index_matches_a_full_scan(
        data: bytes, edits: list[tuple[str, str]]) -> None:
    """set() re-indexes only from the edited line on; the index must equal a fresh scan."""
    from mailstate.formats.maincf import scan

    doc = MainCf.parse(data)
    for key, value in edits:
        doc.set(key, value)
        assert doc._items == scan(doc._lines, doc.path)
        assert MainCf.parse(doc.render()).get(key) == " ".join(value.split())


php_changes = st.dictionaries(
    st.sampled_from(["default_host", "smtp_port", "imap_host", "des_key", "new_one", "x"]),
    st.one_of(st.none(), words, st.integers(0, 999), st.booleans()), max_size=5)


php_seeds = st.sampled_from([
    b"<?php\n// stock\n$config = [];\n",
    b"<?php\r\n$config = [];\r\n",
    b"<?php\n$config = [];",  # no final newline
    b"<?php\n$config['x'] = 1; $config['imap_host'] = 'a';\n// end\n",
    b"<?php\n$config['des_key'] = 'k';\n$config['x'] = 2;\n$config['des_key'] = 'j';",
    b"<?php\n$config = [];\n?>\n",
])


@FAST
@given(php_seeds, php_changes, php_changes)
def test_php_update_equals_key_by_key_edits(seed_text: bytes, first: dict,  # type: ignore[type-arg]
                                            changes: dict) -> None:  # type: ignore[type-arg]
    """update() batches edits; it must give the bytes of set()/remove() one by one."""
    base = PhpConfig.parse(seed_text)
    base.update({k: v for k, v in first.items() if v is not None})
    seed = base.render()
    batched, single = PhpConfig.parse(seed), PhpConfig.parse(seed)
    batched.update(changes)
    for key, value in changes.items():
        if value is None:
            single.remove(key)
        else:
            single.set(key, value)
    assert batched.render() == single.render()
    assert PhpConfig.parse(batched.render()).keys() == batched.keys()
