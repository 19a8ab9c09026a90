"""The host scripts as they are sent: the shared prelude in front of one script.

Every phase is still one exec: `remote/prelude.sh` (strict shell options, the lock, the
temp-file naming, the atomic put, the action dispatch, the listener check) is
concatenated with the phase's script, so what they share is written once. The facts
script, which only reads, gets the prelude's first part (up to `READERS_STOP`).
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path
from typing import Literal

from mailstate.engine import hooks
from mailstate.transport.base import sh_command

ScriptName = Literal["facts", "hold", "swap", "restore"]
BACKUP_ROOT = "/var/backups/mailstate"  # as in prelude.sh
STATE_DIR = "/var/lib/mailstate"  # as in prelude.sh


REMOTE = Path(__file__).with_name("remote")  # package data, installed as plain files


def lock_owner(what: str = "") -> str:
    """Who takes a host's lock, as another run reports it ("held by alice@admin pid 42")."""
    suffix = f" ({what})" if what else ""
    return f"{os.environ.get('USER', 'root')}@{socket.gethostname()} pid {os.getpid()}{suffix}"


@cache
def _read(name: str) -> str:
    return (REMOTE / name).read_text()


READERS_STOP = "# -- READERS STOP HERE"  # the line of prelude.sh ending what facts needs


@cache
def _prelude(name: ScriptName) -> str:
    """The prelude for phase `name`: whole for the phases that write; for facts (which
    only reads, on every host of every plan) the part above `READERS_STOP`."""
    text = _read("prelude.sh")
    return text[:text.index(READERS_STOP)] if name == "facts" else text


def host_script(name: ScriptName) -> str:
    """The full text sent for phase `name`: prelude, then the script."""
    return hooks.script(name, _prelude(name) + _read(f"{name}.sh"))


def host_command(name: ScriptName, args: list[str]) -> str:
    """One quoted `sh -c` command line running phase `name` with `args`."""
    return sh_command(host_script(name), args)
