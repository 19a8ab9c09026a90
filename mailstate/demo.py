"""`./run demo`: the main job on an embedded default, start to finish.

Starts 3 local lab hosts (stock Debian Postfix + Dovecot + Roundcube), resets them to
stock, lints and plans the shipped hardened profile, applies it, shows that a second plan
is empty and proves the result from the network. Each step prints the exact command, so
the user can repeat it by hand. `--release bookworm,bookworm,trixie` runs it on a mixed
fleet of Debian 12 and 13 hosts instead.
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


# The release of the default demo's hosts. Debian 12 until the shipped profile converges
# Debian 13 as well (issue #13, the versions work); then the default becomes a mixed fleet.
DEFAULT_RELEASE = "bookworm"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./run demo", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  ./run demo                                   3 Debian 12 hosts\n"
               "  ./run demo --release bookworm,bookworm,trixie  2 x Debian 12, 1 x Debian 13")
    parser.add_argument("hosts", nargs="?", type=int, default=None,
                        help="number of hosts (3, or as many as --release names)")
    parser.add_argument("--instance", type=int, default=0, help="lab instance (default 0)")
    parser.add_argument("--release", default=DEFAULT_RELEASE,
                        metavar="RELEASE[,RELEASE...]",
                        help=f"one release for every host or one per host (default "
                             f"{DEFAULT_RELEASE}); see `mailstate lab up --help`")
    args = parser.parse_args(argv)

    from mailstate.lab import Lab

    lab = ["lab", "--instance", str(args.instance)]
    count = [] if args.hosts is None else [str(args.hosts)]
    step("Start the lab hosts", [*lab, "up", *count, "--release", args.release], (0,))
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
