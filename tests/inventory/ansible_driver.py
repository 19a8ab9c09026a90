"""Runs ansible-core's own command-line entry points for the differential tests.

Run with the test venv's python (ansible-core installed there). Reads jobs from stdin:
`[{"argv": ["ansible-inventory", "-i", ...], "cwd": "..."}]`, and prints a JSON list of
`{"rc", "out", "err"}`. ansible is imported once; each job then runs in a fresh forked
process calling the real `main()` of ansible-inventory / ansible / ansible-vault, as the
installed scripts do. Why: starting Python and importing ansible costs ~0.4 s per call,
and the suite makes dozens of calls.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback


def main() -> int:
    jobs = json.load(sys.stdin)
    home = tempfile.mkdtemp(prefix="ansible-home-")
    os.environ.update({"ANSIBLE_HOME": home, "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
                       "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                       "ANSIBLE_HOST_KEY_CHECKING": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0"})
    os.environ.pop("ANSIBLE_CONFIG", None)
    os.chdir(home)  # no ansible.cfg is found while the configuration loads
    from ansible.cli import adhoc, inventory, vault

    entry = {"ansible-inventory": inventory.main, "ansible": adhoc.main,
             "ansible-vault": vault.main}
    results = []
    for job in jobs:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            pid = os.fork()
            if pid == 0:  # child: run one command line, exit with its status
                code = 0
                try:
                    os.chdir(job["cwd"])
                    os.environ.update(job.get("env", {}))
                    devnull = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(devnull, 0)
                    os.dup2(out.fileno(), 1)
                    os.dup2(err.fileno(), 2)
                    entry[job["argv"][0]](job["argv"])
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None
                                                                        else 1)
                except BaseException:
                    traceback.print_exc()
                    code = 250
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            err.seek(0)
            results.append({"rc": os.waitstatus_to_exitcode(status),
                            "out": out.read().decode("utf-8", "replace"),
                            "err": err.read().decode("utf-8", "replace")})
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
