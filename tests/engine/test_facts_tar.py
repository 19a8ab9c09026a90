"""The facts' tar stream read from its headers (engine/facts.py `_read_gnu_tar`) gives
exactly what `tarfile` gives, for what GNU tar writes on a host (long names, hard links,
modes, owners with and without a name), and anything else is left to `tarfile`."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

from mailstate.engine.facts import _read_any_tar, _read_gnu_tar, _read_tar


def gnu_tar(root: Path, *names: str) -> bytes:
    """What the facts script sends: `tar -cPf - -h PATHS` (GNU tar, absolute names)."""
    paths = [str(root / n) for n in names]
    return subprocess.run(["tar", "-cPf", "-", "-h", *paths], capture_output=True,
                          check=True).stdout


def test_gnu_tar_streams_read_as_tarfile_reads_them(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "long-name.conf").write_bytes(b"over 100 characters of path\n")  # GNU 'L'
    (tmp_path / "main.cf").write_bytes(b"myhostname = mx\n" * 200)
    (tmp_path / "empty.conf").write_bytes(b"")
    (tmp_path / "secret.conf").write_bytes(b"password = x\n")
    os.chmod(tmp_path / "secret.conf", 0o4640)
    os.chown(tmp_path / "empty.conf", 4242, 4343)  # no such user or group: numbers
    os.link(tmp_path / "main.cf", tmp_path / "main-link.cf")  # a hard link
    (tmp_path / "via-symlink.conf").symlink_to(tmp_path / "secret.conf")  # -h follows
    data = gnu_tar(tmp_path, str(deep.relative_to(tmp_path)) + "/long-name.conf", "main.cf",
                   "empty.conf", "secret.conf", "main-link.cf", "via-symlink.conf")
    fast = _read_gnu_tar(data)
    assert fast is not None and fast == _read_any_tar(data)
    assert fast[str(tmp_path / "main-link.cf")].data == b"myhostname = mx\n" * 200
    assert fast[str(tmp_path / "secret.conf")].mode == 0o4640
    assert (fast[str(tmp_path / "empty.conf")].owner,
            fast[str(tmp_path / "empty.conf")].group) == ("4242", "4343")
    assert fast[str(deep / "long-name.conf")].data == b"over 100 characters of path\n"
    assert len(fast) == 6


def test_directories_are_skipped_as_tarfile_skips_them(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-a.conf").write_bytes(b"a = 1\n")
    data = gnu_tar(tmp_path, "conf.d")
    assert _read_gnu_tar(data) == _read_any_tar(data)
    assert list(_read_tar(data)) == [str(tmp_path / "conf.d" / "10-a.conf")]


def python_tar(fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name, body in (("etc/postfix/main.cf", b"a = 1\n"), ("x" * 120, b"long\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uname, info.gname = len(body), 0o644, "root", "root"
            archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def test_other_formats_fall_back_to_tarfile() -> None:
    pax = python_tar(tarfile.PAX_FORMAT)
    assert _read_gnu_tar(pax) is None  # pax headers: tarfile reads them
    assert _read_tar(pax) == _read_any_tar(pax) and len(_read_tar(pax)) == 2
    gnu = python_tar(tarfile.GNU_FORMAT)
    assert _read_gnu_tar(gnu) == _read_any_tar(gnu)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("p" * 60 + "/" + "q" * 60)  # stored with a POSIX prefix
        archive.addfile(info, io.BytesIO(b""))
    ustar_prefix = out.getvalue()
    assert _read_gnu_tar(ustar_prefix) is None
    assert _read_tar(ustar_prefix) == _read_any_tar(ustar_prefix)


def test_a_damaged_header_is_left_to_tarfile() -> None:
    data = bytearray(python_tar(tarfile.GNU_FORMAT))
    data[0] ^= 0x01  # the name changes, the checksum no longer matches
    assert _read_gnu_tar(bytes(data)) is None
