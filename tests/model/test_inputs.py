"""Every user-named file is read with a cap that holds for devices and FIFOs too."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.inputs import read_capped


def test_dev_zero_is_refused_without_reading_it_all() -> None:
    with pytest.raises(MailstateError) as caught:
        read_capped("/dev/zero", "inventory", limit=1024)
    assert "not a regular file" in str(caught.value)
    assert "are refused" in str(caught.value)


def test_endless_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        try:
            with open(fifo, "wb") as out:
                while True:
                    out.write(b"x" * 4096)
        except BrokenPipeError:
            return  # the reader stopped at its cap, as it must

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(MailstateError, match="not a regular file"):
        read_capped(fifo, "state", limit=64 * 1024)


def test_directory_and_missing_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(MailstateError, match="is a directory"):
        read_capped(tmp_path, "inventory")
    with pytest.raises(MailstateError, match="cannot read state"):
        read_capped(tmp_path / "nope.yaml", "state")


def test_small_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"postfix: {}\n")
    assert read_capped(path) == b"postfix: {}\n"
