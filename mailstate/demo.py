"""`./run demo`: the main job on an embedded default, start to finish.

Starts 3 local lab hosts (stock Debian Postfix + Dovecot + a Roundcube config), plans the
shipped hardened profile against them, applies it, and shows that a second plan is empty.
Each step prints the exact command, so the user can repeat it by hand.
"""

from __future__ import annotations

import sys

from mailstate.cli import main as cli


def step(title: str, argv: list[str], expect: tuple[int, ...]) -> int:
    print(f"\n\x1b[1m### {title}\x1b[0m\n$ mailstate {' '.join(argv)}", flush=True)
    code = cli(argv)
    if code not in expect:
        print(f"demo: `mailstate {' '.join(argv)}` exited {code}, expected {expect}",
              file=sys.stderr)
        raise SystemExit(1)
    return code


def main(argv: list[str] | None = None) -> int:
    hosts = (argv or sys.argv[1:] or ["3"])[0]
    step("Start the lab hosts (stock config: plain IMAP/POP3 open, no 465/587)",
         ["lab", "up", hosts], (0,))
    inventory = "inventory/lab.yaml"
    step("Check the desired state (no SSH)", ["lint", "-i", inventory], (0,))
    step("What would change (exit 2 = changes pending)", ["plan", "-i", inventory], (2,))
    step("Apply it: validate, back up, swap, reload, verify", ["apply", "-i", inventory,
                                                                "--yes"], (0,))
    step("Plan again: nothing left to do (exit 0)", ["plan", "-i", inventory], (0,))
    step("Prove it from the network", ["audit", "-i", inventory,
                                       "--cafile", "/var/tmp/mailstate-lab/0/ca/ca.pem"], (0, 1))
    print("\ndemo done. Try: mailstate lab status | mailstate lab ssh h1 -- postconf -n | "
          "mailstate lab down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
