#!/usr/bin/env python3
"""Regenerate mailstate's per-release tables from the releases' own tools.

    sudo .venv/bin/python tools/release_tables.py            # every supported release
    sudo .venv/bin/python tools/release_tables.py trixie     # just one

For each supported Debian release it runs that release's `postconf -d` and `doveconf -ds`
(this machine's own for its native release, `chroot` into the cached debootstrapped root
filesystem for the other, see `mailstate.lab.rootfs`) and writes
`mailstate/releases/data/postfix_<series>.py` and `dovecot_<series>.py`. Nothing is typed
by hand except the few kinds `postconf -d` cannot show (`KIND_OVERRIDES`): the tables
are what the programs say.

Postfix: `postconf -d` lists every built-in parameter plus `<service>_<suffix>` for each
master.cf service that runs a delivery agent. So the built-in list comes from a config
directory whose master.cf is empty, and the per-service suffixes from a master.cf with
one probe service per daemon program: the command decides which suffixes a service gets.
Dovecot: `doveconf -ds` prints every setting, hidden ones included; 2.3 nests the service
and listener settings in sections, 2.4 prints everything flat.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailstate.lab import rootfs  # noqa: E402
from mailstate.releases.catalog import DEBIAN  # noqa: E402

OUT = REPO / "mailstate" / "releases" / "data"
DAEMONS = "/usr/lib/postfix/sbin"
# Kinds `postconf -d` cannot show: enums and a version string that looks like a number.
KIND_OVERRIDES = {"inet_protocols": "inet_protocols", "compatibility_level": "str"}
# Defaults Postfix computes from the machine it runs on (names, addresses, its own pid):
# the table says so instead of recording the generating machine's values.
HOST_DEFAULTS = ("mydomain", "myhostname", "mynetworks", "process_id")
Run = Callable[[list[str]], str]


@contextmanager
def release_tools(release: str) -> Iterator[tuple[Run, Path, Path]]:
    """(run argv, the root the tools see, a scratch dir inside that root) for a release."""
    if release == rootfs.native_release():
        with tempfile.TemporaryDirectory() as tmp:
            yield _local, Path("/"), Path(tmp)
        return
    with rootfs.overlay(release) as root:
        scratch = root / "tmp" / "mailstate-tables"
        scratch.mkdir(parents=True)

        def run(argv: list[str]) -> str:
            proc = rootfs.chroot_run(root, argv)
            if proc.returncode != 0:
                raise SystemExit(f"{argv}: {proc.stderr.decode()}")
            return proc.stdout.decode()

        yield run, root, scratch


def _local(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def inside(root: Path, path: Path) -> str:
    """`path` as the chrooted tools see it."""
    return "/" + str(path.relative_to(root)) if root != Path("/") else str(path)


# ---- Postfix ----------------------------------------------------------------------------

def postconf_d(run: Run, root: Path, scratch: Path, master: str) -> dict[str, str]:
    conf = scratch / "postfix"
    if conf.exists():
        shutil.rmtree(conf)
    conf.mkdir()
    shutil.copy(root / "etc/postfix/main.cf", conf / "main.cf")
    (conf / "master.cf").write_text(master)
    out = run(["postconf", "-c", inside(root, conf), "-d"])
    params = {}
    for line in out.splitlines():
        name, _, default = line.partition("=")
        name = name.strip()
        params[name] = "(from the host)" if name in HOST_DEFAULTS else default.strip()
    return params


def _base_kind(value: str) -> str | None:
    if value in ("yes", "no"):
        return "bool"
    if re.fullmatch(r"\d+", value):
        return "int"
    if re.fullmatch(r"\d+[smhdw]", value):
        return "time"
    return None


def kind_of(name: str, defaults: dict[str, str], seen: tuple[str, ...] = ()) -> str:
    """The kind a default implies: yes/no, digits, digits+unit, or the kind of `$other`."""
    if name in KIND_OVERRIDES:
        return KIND_OVERRIDES[name]
    if name == "process_id":
        return "int"
    if name.endswith("_tls_security_level"):
        return "tls_level"
    value = defaults[name]
    kind = _base_kind(value)
    if kind:
        return kind
    # `${stress?{10}:{300}}s`: the unstressed (last) alternative decides
    last = re.search(r"\{([^{}$]*)\}\}+(\w*)$", value)
    if last and _base_kind(last.group(1) + last.group(2)):
        return _base_kind(last.group(1) + last.group(2)) or "str"
    ref = re.fullmatch(r"\$\{?([a-z0-9_]+)\}?", value)
    if ref and ref.group(1) in defaults and ref.group(1) not in seen:
        return kind_of(ref.group(1), defaults, (*seen, name))
    return "str"


def postfix_tables(run: Run, root: Path, scratch: Path) -> dict[str, object]:
    version = run(["postconf", "-h", "mail_version"]).strip()
    static = postconf_d(run, root, scratch, "")
    daemons = sorted(p.name for p in (root / DAEMONS.lstrip("/")).iterdir()
                     if p.is_file() and "-" not in p.name and p.name != "master")
    probe = "".join(f"zzprobe{i} unix - - n - - {d}\n" for i, d in enumerate(daemons))
    probed = postconf_d(run, root, scratch, probe)
    suffixes: dict[str, tuple[str, list[str]]] = {}
    for i, daemon in enumerate(daemons):
        prefix = f"zzprobe{i}_"
        for name, default in probed.items():
            if name.startswith(prefix):
                suffix = name[len(prefix):]
                suffixes.setdefault(suffix, (default, []))[1].append(daemon)
    every = {**static, **{f"x_{s}": d for s, (d, _) in suffixes.items()}}
    rows = [f"{n} {kind_of(n, every)} {d}".rstrip() for n, d in sorted(static.items())]
    suffix_rows = [f"{s} {kind_of('x_' + s, every)} {','.join(c)} {d}".rstrip()
                   for s, (d, c) in sorted(suffixes.items())]
    stock = []
    for line in (root / "etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if fields and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            stock.append(f"{fields[0]} {fields[1]} {fields[7]}")
    return {"version": version, "rows": rows, "suffix_rows": suffix_rows, "stock": stock}


def write_postfix(series: str, release: str, data: dict[str, object]) -> None:
    rows, suffix_rows, stock = data["rows"], data["suffix_rows"], data["stock"]
    assert isinstance(rows, list) and isinstance(suffix_rows, list) and isinstance(stock, list)
    text = f'''# ruff: noqa: E501
"""Postfix {series} main.cf parameters, generated by tools/release_tables.py. Do not edit.

Source: `postconf -d` of Postfix {data["version"]} ({DEBIAN[release]}).
"""

VERSION = "{data["version"]}"

# name kind default: the built-in parameters (postconf -d with an empty master.cf)
PARAMETERS = """\\
{chr(10).join(rows)}
"""

# suffix kind commands default: postconf -d also lists <service>_<suffix> for every
# master.cf service whose command is one of `commands`
TRANSPORT_SUFFIXES = """\\
{chr(10).join(suffix_rows)}
"""

# service type command: {DEBIAN[release]}'s stock master.cf
STOCK_MASTER = """\\
{chr(10).join(stock)}
"""
'''
    (OUT / f"postfix_{series.replace('.', '_')}.py").write_text(text)


# ---- Dovecot ----------------------------------------------------------------------------

def dovecot_tables(run: Run) -> dict[str, object]:
    version = run(["dovecot", "--version"]).split()[0]
    stack: list[str] = []
    names: dict[str, set[str]] = {}
    for raw in run(["doveconf", "-ds"]).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "}":
            stack.pop()
            continue
        head = re.fullmatch(r"([A-Za-z0-9_+-]+)(?: .*)? \{", line)
        if head and "=" not in line:
            names.setdefault("/".join(stack), set()).add(head.group(1) + " {}")
            stack.append(head.group(1))
            continue
        names.setdefault("/".join(stack), set()).add(line.partition("=")[0].strip())
    return {"version": version, "names": names}


def write_dovecot(series: str, release: str, data: dict[str, object]) -> None:
    names = data["names"]
    assert isinstance(names, dict)
    blocks = []
    for where in sorted(names):
        words = sorted(names[where])
        body = "\n".join(" ".join(words[i:i + 6]) for i in range(0, len(words), 6))
        blocks.append(f'    "{where}": """\\\n{body}\n""",')
    text = f'''# ruff: noqa: E501
"""Dovecot {series} setting names, generated by tools/release_tables.py. Do not edit.

Source: `doveconf -ds` of Dovecot {data["version"]} ({DEBIAN[release]}, with the
Dovecot packages a lab host installs). Keys: "" for top-level settings, else the
section types the setting sits in ("service/inet_listener"); "name {{}}" is a section.
"""

VERSION = "{data["version"]}"

NAMES = {{
{chr(10).join(blocks)}
}}
'''
    (OUT / f"dovecot_{series.replace('.', '_')}.py").write_text(text)


def main(argv: list[str]) -> int:
    from mailstate.releases.catalog import RELEASES

    wanted = [rootfs.release_name(a) for a in argv] or list(RELEASES)
    OUT.mkdir(parents=True, exist_ok=True)
    for release in wanted:
        target = RELEASES[release]
        assert target.postfix is not None and target.dovecot is not None
        with release_tools(release) as (run, root, scratch):
            write_postfix(target.postfix, release, postfix_tables(run, root, scratch))
            write_dovecot(target.dovecot, release, dovecot_tables(run))
        print(f"{release}: postfix {target.postfix}, dovecot {target.dovecot} written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
