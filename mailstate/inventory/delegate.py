"""Plugin and script inventories: ask the real `ansible-inventory` and read its answer.

mailstate reads every static form itself; a dynamic one (a YAML file with `plugin:`, an
executable script) can only be run by Ansible. When `ansible-inventory` is on PATH it is
asked once per such source (`--list --export`: groups with their own variables, hosts
with theirs, so mailstate applies Ansible's precedence to the result as to any other
source); otherwise the error names the form and the two ways out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mailstate.diagnostics import Location
from mailstate.inputs import read_capped
from mailstate.inventory.data import inventory_error

MAX_OUTPUT = 256 * 1024 * 1024
TIMEOUT = 600.0


@dataclass
class AnsibleInventory:
    """How to run ansible-inventory (the vault options are passed on unchanged)."""

    vault_args: list[str] = field(default_factory=list)
    executable: str | None = None

    def find(self) -> str | None:
        return self.executable or shutil.which("ansible-inventory")

    def list(self, source: Path, form: str) -> str:
        """`ansible-inventory -i SOURCE --list --export` (JSON text)."""
        program = self.find()
        if program is None:
            raise inventory_error(
                f"{source} is {form}: only Ansible can run it, and `ansible-inventory` is "
                "not on PATH", Location(str(source)),
                fix="install ansible-core (pip install ansible-core) so ansible-inventory "
                    "is on PATH, or write a static inventory once: "
                    f"ansible-inventory -i {source} --list --export -y > static.yml")
        with tempfile.TemporaryDirectory(prefix="mailstate-inv-") as tmp:
            out = Path(tmp) / "list.json"
            argv = [program, "-i", str(source), "--list", "--export", "--output", str(out),
                    *self.vault_args]
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, timeout=TIMEOUT, check=False,
                                      env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
            except subprocess.TimeoutExpired:
                raise inventory_error(f"ansible-inventory did not answer for {source} in "
                                      f"{TIMEOUT:.0f} s", Location(str(source))) from None
            except OSError as exc:
                raise inventory_error(f"cannot run {program}: {exc.strerror}",
                                      Location(str(source))) from None
            if done.returncode != 0 or not out.exists():
                tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
                raise inventory_error(
                    f"ansible-inventory failed on {source} ({form}), exit {done.returncode}",
                    Location(str(source)), fix="\n".join(tail) or "run it yourself: "
                    f"ansible-inventory -i {source} --list")
            text = read_capped(out, "ansible-inventory output", MAX_OUTPUT)
        return text.decode("utf-8", "replace")
