"""Reading a user-named file with a size cap that holds for any kind of file.

A state, an inventory, a `--limit @FILE`, a saved plan, a vault password file: each is
named by a user and may be anything, `/dev/zero` or a FIFO included. `stat().st_size` says
0 for those, so a size check before reading proves nothing; the cap must bound the read
itself. Every such file is read through `read_capped`.
"""

from __future__ import annotations

import stat
from pathlib import Path

from mailstate.diagnostics import Diagnostic, Location, MailstateError

MAX_INPUT_BYTES = 8 * 1024 * 1024  # states and inventories are kilobytes


def read_capped(path: str | Path, what: str = "file", limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of `path`, or a diagnostic: unreadable, a directory, or over `limit`.

    Reads at most `limit + 1` bytes, so `/dev/zero` or an endless FIFO is refused as
    too large instead of hanging or filling memory. `what` names the file's role in
    messages ("inventory", "state", "retry file", ...).
    """
    name = str(path)
    try:
        info = Path(path).stat()
        if stat.S_ISDIR(info.st_mode):
            raise MailstateError(Diagnostic(
                "error", f"{what} {name} is a directory, not a file", Location(name),
                code="io"))
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise MailstateError(Diagnostic(
            "error", f"cannot read {what} {name}: {exc.strerror or exc}", Location(name),
            code="io")) from None
    if len(data) > limit:
        kind = "" if stat.S_ISREG(info.st_mode) else " (not a regular file)"
        raise MailstateError(Diagnostic(
            "error", f"{what} {name}{kind} is larger than {limit // 1048576} MB: input files "
            f"of more than {limit // 1048576} MB are refused",
            Location(name), code="too-large",
            fix="is it the right file? states and inventories are small text files"))
    return data
