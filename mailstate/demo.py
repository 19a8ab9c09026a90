"""`./run demo`: the main job on an embedded default, start to finish.

Starts 3 local lab hosts (stock Debian Postfix + Dovecot + a Roundcube config), resets
them to stock, lints and plans the shipped hardened profile, applies it, shows that a
second plan is empty and proves the result from the network. Each step prints the exact
command, so the user can repeat it by hand.
"""

from __future__ import annotations

import argparse
import sys

from mailstate.cli import main as cli


def step(title: str, argv: list[str], expect: tuple[int, ...]) -> int:
    print(f"\n### {title}\n$ mailstate {' '.join(argv)}", flush=True)
    code = cli(argv)
    if code not in expect:
        print(f"demo: `mailstate {' '.join(argv)}` exited {code}, expected "
              f"{' or '.join(map(str, expect))}", file=sys.stderr)
        raise SystemExit(1)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run demo", description=__doc__)
    parser.add_argument("hosts", nargs="?", type=int, default=3)
    parser.add_argument("--instance", type=int, default=0, help="lab instance (default 0)")
    args = parser.parse_args(argv)

    from mailstate.lab import Lab

    lab = ["lab", "--instance", str(args.instance)]
    step("Start the lab hosts", [*lab, "up", str(args.hosts)], (0,))
    step("Back to stock Debian config: plain IMAP/POP3 open, no 465/587", [*lab, "reset"], (0,))
    instance = Lab(args.instance)
    inventory = str(instance.inventory_path)
    step("Check the desired state (no SSH)", ["lint", "-i", inventory], (0,))
    step("What would change (exit 2 = changes pending)", ["plan", "-i", inventory], (2,))
    step("Apply it: validate, back up, swap, reload, verify",
         ["apply", "-i", inventory, "--yes"], (0,))
    step("Plan again: nothing left to do (exit 0)", ["plan", "-i", inventory], (0,))
    step("Prove it from the network", ["audit", "-i", inventory,
                                       "--cafile", str(instance.ca_path)], (0,))
    print("\ndemo done. Next: mailstate lab status | mailstate lab ssh h1 -- postconf -n"
          " | mailstate lab down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
