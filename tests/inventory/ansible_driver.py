"""Runs ansible-core's own command-line entry points for the differential tests.

Run with the test venv's python (ansible-core installed there). Reads jobs from stdin:
`[{"argv": ["ansible-inventory", "-i", ...], "cwd": "..."}]`, and prints a JSON list of
`{"rc", "out", "err"}`. ansible is imported once; each job then runs in a fresh forked
process calling the real `main()` of ansible-inventory / ansible / ansible-vault, as the
installed scripts do (up to one per CPU, at most 4, at a time). Why: starting Python,
importing ansible and finding its plugins costs ~0.6 s per call, and the suite makes
about a hundred calls.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import IO, Any


def _child(entry: dict[str, Callable[[list[str]], Any]], job: dict[str, Any], out: int,
           err: int) -> None:
    """In the forked process: run one command line, exit with its status."""
    code = 0
    try:
        os.chdir(job["cwd"])
        os.environ.update(job.get("env") or {})
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        entry[job["argv"][0]](list(job["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 250
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _collect(running: dict[int, tuple[int, IO[bytes], IO[bytes]]],
             results: list[dict[str, Any] | None]) -> None:
    pid, status = os.wait()
    index, out, err = running.pop(pid)
    texts = []
    for handle in (out, err):
        handle.seek(0)
        texts.append(handle.read().decode("utf-8", "replace"))
        handle.close()
    results[index] = {"rc": os.waitstatus_to_exitcode(status), "out": texts[0],
                      "err": texts[1]}


def main() -> int:
    jobs = json.load(sys.stdin)
    home = tempfile.mkdtemp(prefix="ansible-home-")
    os.environ.update({"ANSIBLE_HOME": home, "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
                       "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                       "ANSIBLE_HOST_KEY_CHECKING": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0"})
    os.environ.pop("ANSIBLE_CONFIG", None)
    os.chdir(home)  # no ansible.cfg is found while the configuration loads
    from ansible.cli import adhoc, inventory, vault
    from ansible.plugins.loader import init_plugin_loader, inventory_loader

    # Find the plugins once (Ansible parses its plugin routing YAML on first use: ~0.5 s
    # that every forked command would otherwise pay again).
    init_plugin_loader()
    for name in ("host_list", "script", "auto", "yaml", "ini", "toml", "generator"):
        inventory_loader.get(name)

    entry: dict[str, Callable[[list[str]], Any]] = {
        "ansible-inventory": inventory.main, "ansible": adhoc.main, "ansible-vault": vault.main}
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    running: dict[int, tuple[int, IO[bytes], IO[bytes]]] = {}  # pid -> (index, out, err)
    width = max(1, min(4, os.cpu_count() or 1))
    for index, job in enumerate(jobs):
        while len(running) >= width:
            _collect(running, results)
        out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _collect
        err = tempfile.TemporaryFile()  # noqa: SIM115
        pid = os.fork()
        if pid == 0:
            _child(entry, job, out.fileno(), err.fileno())
        running[pid] = (index, out, err)
    while running:
        _collect(running, results)
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
