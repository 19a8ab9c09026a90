"""Release names for `--release` / `--target`: aliases resolve, unknown ones are refused."""

from __future__ import annotations

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.lab import rootfs


@pytest.mark.parametrize(("given", "expected"), [
    ("trixie", "trixie"), ("debian13", "trixie"), ("13", "trixie"), ("Bookworm", "bookworm"),
    ("debian12", "bookworm"),
])
def test_release_aliases(given: str, expected: str) -> None:
    assert rootfs.release_name(given) == expected


def test_unknown_release_names_the_supported_ones() -> None:
    with pytest.raises(MailstateError) as caught:
        rootfs.release_name("buster")
    assert "bookworm (Debian 12)" in str(caught.value)
    assert "trixie (Debian 13)" in str(caught.value)


def test_cache_dir_depends_on_release_and_package_list() -> None:
    assert rootfs.rootfs_dir("trixie") != rootfs.rootfs_dir("bookworm")
    assert rootfs.rootfs_dir("trixie").name.startswith("trixie-")
