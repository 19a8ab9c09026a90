"""`mailstate profiles`: the profiles mailstate ships, and a new project started from them.

The profiles are package data (mailstate/profiles/), found by name from any install, so
an admin who installed mailstate as a tool needs to see what exists and where a project
starts. What a profile is for and which releases it supports is written in the file's
own first comment lines, so the YAML that `lint`, `show` and `plan` read stays exactly
the state and nothing has to strip a metadata key:

    # mailstate profile "NAME": one line saying what it is for
    # releases: debian12, debian13
    # layers on: hardened            (optional: a layer merged after these profiles)

tests/packaging/test_profiles.py checks every shipped file has them and that each
profile lints clean for every release it names.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

from mailstate.diagnostics import error

HELP = """\
The shipped profiles are found by name in `mailstate_states: [hardened, site]` from any
directory and any install. A name is looked up, in this order: as a path when it has a
`/` or a .yaml suffix; in the project's own states/ folders (beside and above the
inventory, then the current directory); then in these shipped profiles. So a project's
states/hardened.yaml replaces the shipped one.

examples:
  mailstate profiles                    list them: name, releases, purpose
  mailstate profiles show hardened      print one (the YAML, with every reason)
  mailstate profiles init mail-project  start a project: inventory.yaml + states/site.yaml
"""

INIT_FILES = ("inventory.yaml", "states/site.yaml")
_TITLE = re.compile(r'# mailstate profile "(?P<name>[^"]+)": (?P<purpose>.+)$')
_FIELD = re.compile(r"# (?P<key>releases|layers on): (?P<value>.+)$")
_SITE_HEAD = """\
# The site layer of this project: merged after the shipped profile (mailstate_states:
# [hardened, site] in inventory.yaml), so only what differs from it goes here. Mappings
# merge, lists replace, null removes a setting. Written by `mailstate profiles init`
# from the shipped example `site-example`; `mailstate show HOST -i inventory.yaml`
# shows the merged result and where each value came from.
"""


@dataclass(frozen=True)
class Profile:
    """A shipped profile as its header describes it."""

    name: str
    path: Path
    purpose: str
    releases: tuple[str, ...]
    layers_on: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "purpose": self.purpose, "releases": list(self.releases),
                "layers_on": list(self.layers_on), "path": str(self.path)}


def read_profile(path: Path) -> Profile:
    """The header of a shipped profile; an error naming the file when it has none."""
    lines = path.read_text(encoding="utf-8").splitlines()
    title = _TITLE.match(lines[0]) if lines else None
    if title is None or title.group("name") != path.stem:
        raise error(f"profile {path.stem!r} has no header", str(path), 1,
                    fix=f'its first line must be: # mailstate profile "{path.stem}": PURPOSE')
    fields: dict[str, tuple[str, ...]] = {}
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        match = _FIELD.match(line)
        if match:
            fields[match.group("key")] = tuple(
                v.strip() for v in match.group("value").split(",") if v.strip())
    if not fields.get("releases"):
        raise error(f"profile {path.stem!r} names no releases", str(path), 2,
                    fix="add a second line: # releases: debian12, debian13")
    return Profile(path.stem, path, title.group("purpose").strip(), fields["releases"],
                   fields.get("layers on", ()))


def shipped() -> list[Profile]:
    from mailstate.inventory import shipped_profiles

    return [read_profile(p) for p in shipped_profiles().values()]


def release_names(profile: Profile) -> str:
    """`debian12, debian13` as people read them: `Debian 12, Debian 13`."""
    from mailstate.releases.catalog import parse_target

    return ", ".join(parse_target(r).name or r for r in profile.releases)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "profiles", help="the shipped profiles; start a project from them",
        description="The profiles mailstate ships (package data), by name.\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    actions = parser.add_subparsers(dest="profiles_command", metavar="ACTION")
    listing = actions.add_parser("list", help="name, releases and purpose of each (default)")
    show = actions.add_parser("show", help="print one profile's YAML")
    show.add_argument("name", metavar="NAME", help="a shipped profile, e.g. hardened")
    init = actions.add_parser(
        "init", help="start a project: an example inventory and a site layer",
        description="Write DIR/inventory.yaml (hosts to fill in, mailstate_states: "
                    "[hardened, site]) and DIR/states/site.yaml (a site layer to adapt). "
                    "Existing files are never overwritten.",
        epilog="example:\n  mailstate profiles init mail && cd mail && "
               "mailstate lint -i inventory.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("directory", metavar="DIR", help="project directory (created if needed)")
    for action in (listing, show, init):
        action.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                            help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    command = args.profiles_command or "list"
    if command == "show":
        return _show(args.name, args.json)
    if command == "init":
        return _init(Path(args.directory), args.json)
    return _list(args.json)


def _list(as_json: bool) -> int:
    from mailstate.console import emit_json
    from mailstate.inventory import SHIPPED_STATES

    profiles = shipped()
    if as_json:
        emit_json({"folder": str(SHIPPED_STATES), "profiles": [p.to_json() for p in profiles]})
        return 0
    width = max((len(p.name) for p in profiles), default=4)
    for p in profiles:
        layer = f" (a layer on {', '.join(p.layers_on)})" if p.layers_on else ""
        print(f"{p.name:<{width}}  {release_names(p):<20}  {p.purpose}{layer}")
    print(f"\nin {SHIPPED_STATES}\nuse: mailstate_states: [hardened, site]   show one: "
          "mailstate profiles show NAME   new project: mailstate profiles init DIR")
    return 0


def _find(name: str) -> Profile:
    from mailstate.inventory import shipped_profiles

    paths = shipped_profiles()
    if name not in paths:
        raise error(f"no shipped profile named {name!r}",
                    fix="shipped profiles: " + (", ".join(paths) or "none"))
    return read_profile(paths[name])


def _show(name: str, as_json: bool) -> int:
    import sys

    from mailstate.console import emit_json

    profile = _find(name)
    text = profile.path.read_text(encoding="utf-8")
    if as_json:
        emit_json({**profile.to_json(), "text": text})
    else:
        sys.stdout.write(text)
    return 0


def _site_layer() -> str:
    """The shipped example site layer with a project header instead of its profile one."""
    body = _find("site-example").path.read_text(encoding="utf-8").splitlines(keepends=True)
    while body and body[0].startswith("#"):
        body.pop(0)
    return _SITE_HEAD + "".join(body)


def _init(directory: Path, as_json: bool) -> int:
    from mailstate.console import emit_json
    from mailstate.inventory import SHIPPED_STATES

    contents = {"inventory.yaml": (SHIPPED_STATES / "init" / "inventory.yaml")
                .read_text(encoding="utf-8"),
                "states/site.yaml": _site_layer()}
    targets = {name: directory / name for name in INIT_FILES}
    existing = [str(p) for p in targets.values() if p.exists() or p.is_symlink()]
    if existing:
        raise error("profiles init never overwrites: " + ", ".join(existing) + " exist(s)",
                    fix="choose a new or empty directory, or move those files away")
    written: list[Path] = []
    try:
        for name, path in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as out:  # "x": a file that appeared
                written.append(path)                       # since the check is not lost
                out.write(contents[name])
    except (OSError, KeyboardInterrupt) as exc:
        for path in written:  # no half-made project
            path.unlink(missing_ok=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise error(f"profiles init: cannot write {exc.filename or directory}: "
                    f"{exc.strerror or exc}", fix="choose a directory you can write") from exc
    if as_json:
        emit_json({"ok": True, "directory": str(directory),
                   "files": [str(p) for p in written]})
        return 0
    for path in written:
        print(f"wrote {path}")
    inventory = targets["inventory.yaml"]
    print(f"next: fill in the hosts in {inventory}, then\n"
          f"  mailstate lint -i {inventory}\n  mailstate plan -i {inventory}")
    return 0
