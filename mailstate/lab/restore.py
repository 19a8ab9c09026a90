"""Put a host's config and mail trees back to the stock snapshot, touching only what differs.

Every real-host test starts with `reset`, so it must cost milliseconds when nothing
changed: files are compared by metadata first (a copy made with `cp -a` keeps mtime,
so an untouched file matches without being read) and by bytes only when that differs.
The result names the trees that changed, which decides the services to restart.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from mailstate.lab.template import ROUNDCUBE_DB_DIR, TRUST_DIR

# Which service must restart when a tree changed. Roundcube (`php -S`) reads its config
# and database on every request; mailboxes and homes are data the daemons open per use.
SERVICES_OF_TREE: dict[str, tuple[str, ...]] = {
    "etc/postfix": ("postfix",),
    "etc/dovecot": ("dovecot",),
    "etc/ssl": ("postfix", "dovecot"),
    "etc/ssh": ("sshd",),
    "etc/roundcube": (),
    TRUST_DIR: (),
    ROUNDCUBE_DB_DIR: (),
    "var/mail": (),
    "home": (),
}


def _scan(root: Path) -> dict[str, os.stat_result]:
    """lstat of every entry under `root`, keyed by path relative to it ('' = root)."""
    found: dict[str, os.stat_result] = {}
    if not root.exists():
        return found
    found[""] = os.lstat(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel + "/"
        for name in dirnames + filenames:
            found[rel + name] = os.lstat(os.path.join(dirpath, name))
    return found


Entry = tuple[os.stat_result, str]  # (lstat, path to copy it from)
_CACHE: dict[tuple[str, int, int], dict[str, os.stat_result]] = {}


def _scan_cached(root: Path) -> dict[str, os.stat_result]:
    """`_scan` of a tree written once and never changed (template, own files)."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return {}
    key = (str(root), st.st_ino, st.st_ctime_ns)
    if key not in _CACHE:
        _CACHE[key] = _scan(root)
    return _CACHE[key]


def stock_entries(template: Path, own: Path) -> dict[str, Entry]:
    """The stock tree of one host: the shared template overlaid with its own files."""
    entries = {rel: (st, os.path.join(template, rel))
               for rel, st in _scan_cached(template).items()}
    for rel, st in _scan_cached(own).items():
        if not stat.S_ISDIR(st.st_mode):
            entries[rel] = (st, os.path.join(own, rel))
    return entries


def _same_meta(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_mode, a.st_uid, a.st_gid) == (b.st_mode, b.st_uid, b.st_gid)


def _same_content(stock: str, live: str, a: os.stat_result, b: os.stat_result) -> bool:
    """Same bytes (files) or target (symlinks); metadata first, contents only if needed."""
    if stat.S_ISDIR(a.st_mode):
        return True
    if a.st_size != b.st_size:
        return False
    if a.st_mtime_ns == b.st_mtime_ns:  # cp -a kept it; any write since changes mtime
        return True
    if stat.S_ISLNK(a.st_mode):
        same = os.readlink(stock) == os.readlink(live)
    elif stat.S_ISREG(a.st_mode):
        with open(stock, "rb") as x, open(live, "rb") as y:
            same = x.read() == y.read()
    else:
        same = True
    if same:  # next time the metadata fast path applies
        os.utime(live, ns=(a.st_atime_ns, a.st_mtime_ns), follow_symlinks=False)
    return same


def _copy_entry(src: Path, dst: Path, st: os.stat_result) -> None:
    """Recreate `src` at `dst` (file, symlink or empty dir) with its owner and mode."""
    if stat.S_ISDIR(st.st_mode):
        dst.mkdir(exist_ok=True)
    elif stat.S_ISLNK(st.st_mode):
        dst.symlink_to(os.readlink(src))
    else:
        tmp = dst.with_name(f".{dst.name}.mailstate-lab-restore")
        shutil.copyfile(src, tmp)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, dst)
        return
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def restore_tree(stock: dict[str, Entry], live_root: Path) -> list[str]:
    """Make `live_root` equal to `stock`; return the relative paths that differed."""
    live = _scan(live_root)
    changed: list[str] = []
    # Extra entries first (deepest first), so a file replaced by a dir works too.
    for rel in sorted(set(live) - set(stock), reverse=True):
        if (live_root / rel).exists() or (live_root / rel).is_symlink():
            _remove(live_root / rel)
        changed.append(rel)
    for rel in sorted(stock):  # parents before children
        a, src = stock[rel]
        b = live.get(rel)
        dst = os.path.join(live_root, rel)
        if b is not None and stat.S_IFMT(a.st_mode) == stat.S_IFMT(b.st_mode) \
                and _same_content(src, dst, a, b):
            if not _same_meta(a, b):
                os.chown(dst, a.st_uid, a.st_gid, follow_symlinks=False)
                if not stat.S_ISLNK(a.st_mode):
                    os.chmod(dst, stat.S_IMODE(a.st_mode))
                changed.append(rel)
            continue
        if b is not None and not (stat.S_ISDIR(a.st_mode) and stat.S_ISDIR(b.st_mode)):
            _remove(Path(dst))
        _copy_entry(Path(src), Path(dst), a)
        changed.append(rel)
    return changed


def restore_host(hostdir: Path, template: Path) -> dict[str, list[str]]:
    """Restore every tree of one host; {tree: changed paths} for trees that changed.

    The stock tree is its release's template `fs` overlaid with the host's `own/` files.
    """
    result: dict[str, list[str]] = {}
    for tree in SERVICES_OF_TREE:
        stock = stock_entries(template / tree, hostdir / "own" / tree)
        changed = restore_tree(stock, hostdir / "fs" / tree)
        if changed:
            result[tree] = changed
    return result


def services_to_restart(changed: dict[str, list[str]]) -> list[str]:
    wanted = {svc for tree in changed for svc in SERVICES_OF_TREE[tree]}
    return [s for s in ("sshd", "postfix", "dovecot") if s in wanted]
