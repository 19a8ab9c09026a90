"""`mailstate completion bash|zsh`: shell completion, answered by mailstate itself.

The printed script is a thin shim: on every TAB it runs the hidden `mailstate __complete`
(cli.main routes it here before any parsing), which walks the real argparse tree, so the
commands and options offered are always the installed version's and nothing is kept in
two places. Host and group names come from the inventory named with `-i` (or
$MAILSTATE_INVENTORY), loaded without any vault password and with stdin closed, so a
TAB never prompts, decrypts or prints.

Protocol (private to the scripts below): `mailstate __complete bash CUR LINE` (bash: the
line up to the cursor, split here because bash's own words break at `:` and `=`; CUR is
bash's current word, so candidates are cut to what bash replaces) or `mailstate
__complete zsh WORD... CURRENT` (zsh: the words, unquoted). Output: a first line
`words`, `files` or `dirs` (what the shell completes), then one candidate per line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

HELP = """\
Print a completion script for bash or zsh: commands, options, and host and group names
from the inventory given with -i (or $MAILSTATE_INVENTORY).

install (once; new shells pick it up):
  bash: echo 'eval "$(mailstate completion bash)"' >> ~/.bashrc
        (or, with Debian's bash-completion, loaded on first use:
        mailstate completion bash > ~/.local/share/bash-completion/completions/mailstate)
  zsh:  echo 'source <(mailstate completion zsh)' >> ~/.zshrc   (after compinit)
"""

BASH = r"""# bash completion for mailstate (`mailstate completion bash`)
_mailstate() {
    local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} kind line
    [[ $prog == */* && -x $prog ]] || prog=mailstate
    local -a out
    mapfile -t out < <("$prog" __complete bash "$cur" "${COMP_LINE:0:COMP_POINT}" \
                       </dev/null 2>/dev/null)
    kind=${out[0]}
    COMPREPLY=()
    case $kind in
        files) compopt -o filenames 2>/dev/null
               mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        dirs)  compopt -o filenames 2>/dev/null
               mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        words) COMPREPLY=("${out[@]:1}") ;;
    esac
}
complete -o nosort -F _mailstate mailstate 2>/dev/null || complete -F _mailstate mailstate
"""

ZSH = r"""#compdef mailstate
# zsh completion for mailstate (`mailstate completion zsh`)
_mailstate() {
    local prog=${words[1]}
    [[ $prog == */* && -x $prog ]] || prog=mailstate
    local -a out
    out=("${(@f)$("$prog" __complete zsh "${(@Q)words[2,CURRENT-1]}" "${(Q)PREFIX}" \
                  </dev/null 2>/dev/null)}")
    case ${out[1]} in
        files) _files ;;
        dirs)  _files -/ ;;
        words) (( ${#out} > 1 )) && compadd -Q -- "${(@)out[2,-1]}" ;;
    esac
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _mailstate "$@"
else
    compdef _mailstate mailstate
fi
"""

RELEASES = ("debian12", "debian13", "bookworm", "trixie")
_FILE_HINTS = ("FILE", "SOURCE", "PLAN.json")


@dataclass
class Position:
    """Where the words before the cursor leave the parse."""

    parser: argparse.ArgumentParser
    path: list[str] = field(default_factory=list)      # subcommands taken: ["lab", "up"]
    positionals: int = 0                               # positional words given so far
    pending: argparse.Action | None = None             # an option waiting for its value
    inventories: list[str] = field(default_factory=list)
    own_arguments: bool = False                        # `demo`: arguments are not ours


@dataclass(frozen=True)
class Answer:
    kind: str                      # words, files, dirs
    words: tuple[str, ...] = ()


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("completion", help="print a bash or zsh completion script",
                            description=HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell")


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(BASH if args.shell == "bash" else ZSH)
    return 0


def complete(argv: list[str]) -> int:
    """`mailstate __complete ...`: candidates on stdout; never an error for the shell."""
    if not argv or argv[0] not in ("bash", "zsh"):
        return 1
    if argv[0] == "bash":
        if len(argv) != 3:
            return 1
        cur, words = argv[1], _split(argv[2])
    else:
        cur, words = "", argv[1:] or [""]
    try:
        answer = candidates(words[:-1], words[-1])
    except Exception:  # completion must never print a traceback into the prompt
        answer = Answer("words")
    found = answer.words
    if argv[0] == "bash" and answer.kind == "words":
        # bash replaces only its own current word (after the last `:` or `=`)
        cut = len(words[-1]) - len(cur)
        found = tuple(w[cut:] for w in found if cut >= 0 and w.startswith(words[-1]))
    sys.stdout.write("\n".join([answer.kind, *found]) + "\n")
    return 0


def _split(line: str) -> list[str]:
    """The words of a command line up to the cursor; the last one is the one being
    completed ("" after a space). An open quote is closed, as the shell would."""
    for tail in ("", '"', "'"):
        try:
            words = shlex.split(line + tail)
        except ValueError:
            continue
        if not words or (not tail and line[-1].isspace()):
            words.append("")  # the cursor starts a new word
        return words[1:] or [""]
    return [""]


def candidates(before: list[str], current: str) -> Answer:
    """What may come at `current`, after the words `before` (the program name left out)."""
    from mailstate.cli import build_parser

    position = _walk(build_parser(), before)
    if position.own_arguments:
        return Answer("words")
    if position.pending is not None:
        return _values(position.pending, position, current)
    if "=" in current and current.startswith("--"):
        option, _, value = current.partition("=")
        action = _options(position.parser).get(option)
        if action is not None and action.nargs != 0:
            answer = _values(action, position, value)
            return Answer(answer.kind, tuple(f"{option}={w}" for w in answer.words))
    if current.startswith("-"):
        options = sorted(o for o, a in _options(position.parser).items() if o.startswith("--")
                         or len(_long_names(a)) == 0)
        return _words(options, current)
    return _positional(position, current)


def _walk(parser: argparse.ArgumentParser, words: list[str]) -> Position:
    from mailstate.cli import OWN_ARGUMENTS

    position = Position(parser)
    only_positionals = False
    for word in words:
        if position.pending is not None:
            if position.pending.dest == "inventory":
                position.inventories.append(word)
            position.pending = None
            continue
        if word == "--":
            only_positionals = True
            continue
        if word.startswith("-") and len(word) > 1 and not only_positionals:
            _take_option(position, word)
            continue
        sub = _subcommands(position.parser)
        if sub is not None and position.positionals == 0 and word in sub.choices:
            position.parser = sub.choices[word]
            position.path.append(word)
            position.own_arguments = not position.path[1:] and word in OWN_ARGUMENTS
            continue
        position.positionals += 1
    return position


def _take_option(position: Position, word: str) -> None:
    options = _options(position.parser)
    name, eq, value = word.partition("=")
    action = options.get(name)
    if action is None and not word.startswith("--") and len(word) > 2:
        action = options.get(word[:2])           # -iFILE
        value, eq = word[2:], "="
    if action is None or action.nargs == 0:
        return
    if eq:
        if action.dest == "inventory":
            position.inventories.append(value)
    else:
        position.pending = action


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option string the parser takes and shows (hidden ones left out)."""
    return {o: a for a in parser._actions for o in a.option_strings
            if a.help != argparse.SUPPRESS}


def _long_names(action: argparse.Action) -> list[str]:
    return [o for o in action.option_strings if o.startswith("--")]


def _subcommands(parser: argparse.ArgumentParser
                 ) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _words(found: list[str] | tuple[str, ...], current: str) -> Answer:
    return Answer("words", tuple(w for w in dict.fromkeys(found) if w.startswith(current)))


def _values(action: argparse.Action, position: Position, current: str) -> Answer:
    """Candidates for an option's value."""
    if action.choices is not None:
        return _words([str(c) for c in action.choices], current)
    dest, metavar = action.dest, str(action.metavar or "")
    if dest == "limit":
        return _pattern(_inventory_names(position, groups=True), current)
    if dest == "target" or dest == "release":
        return _words(_release_values(current), current)
    if dest == "state":
        names = _words(_state_names(), current)
        return Answer("files") if _looks_like_path(current) or not names.words else names
    if dest == "host" and position.path == ["inventory"]:
        return _words(_inventory_names(position, groups=False), current)
    if dest == "graph":
        return _words(_group_names(position), current)
    if "DIR" in metavar:
        return Answer("dirs")
    if dest in ("inventory", "out", "output", "cafile", "vault_password_file") \
            or any(hint in metavar for hint in _FILE_HINTS):
        return Answer("files")
    return Answer("words")


def _positional(position: Position, current: str) -> Answer:
    """Subcommands, or what the next positional argument of the command may be."""
    sub = _subcommands(position.parser)
    if sub is not None and position.positionals == 0:
        visible = [c.dest for c in sub._choices_actions]
        if not position.path:
            visible = [c for c in visible if not c.startswith("_")]
        return _words(visible, current)
    command = tuple(position.path)
    if command in (("rollback",), ("show",)):
        if position.positionals == 0 and command == ("rollback",):
            return _pattern(_inventory_names(position, groups=True), current)
        if position.positionals == 0:
            return _words(_inventory_names(position, groups=False), current)
        return Answer("words")
    if command == ("lint",):
        names = _words(_state_names(), current)
        return Answer("files") if _looks_like_path(current) or not names.words else names
    if command == ("profiles", "show") and position.positionals == 0:
        from mailstate.inventory import shipped_profiles

        return _words(sorted(shipped_profiles()), current)
    if command == ("profiles", "init") and position.positionals == 0:
        return Answer("dirs")
    if command in (("apply",), ("schema",)) and position.positionals == 0:
        return Answer("files")
    positionals = [a for a in position.parser._actions if not a.option_strings]
    if position.positionals < len(positionals):
        action = positionals[position.positionals]
        if action.choices is not None:
            return _words([str(c) for c in action.choices], current)
    return Answer("words")


def _pattern(names: list[str], current: str) -> Answer:
    """Names inside an Ansible host pattern: `web:&prod:!mx`, `a,b`: the last part."""
    cut = max(current.rfind(sep) for sep in ":,") + 1
    head, tail = current[:cut], current[cut:]
    while tail[:1] in ("&", "!"):
        head, tail = head + tail[0], tail[1:]
    return Answer("words", tuple(head + n for n in names if n.startswith(tail)))


def _looks_like_path(word: str) -> bool:
    return "/" in word or word.startswith((".", "~"))


def _release_values(current: str) -> list[str]:
    """Release names; after a comma (`lab up --release a,b,`) the next one of a list."""
    head, comma, _ = current.rpartition(",")
    return [f"{head}{comma}{r}" for r in RELEASES]


def _state_names() -> list[str]:
    """State names `lint` accepts here: ./states/ first, then the shipped profiles."""
    from mailstate.inventory import shipped_profiles

    local: list[str] = []
    with contextlib.suppress(OSError):
        local = sorted(p.stem for p in Path("states").iterdir()
                       if p.suffix in (".yaml", ".yml"))
    return [*local, *sorted(shipped_profiles())]


def _load(position: Position) -> object | None:
    """The inventory of `-i` (or $MAILSTATE_INVENTORY): no vault password, no warnings."""
    from mailstate.inventory.cli import inventory_sources
    from mailstate.inventory.load import load_inventory
    from mailstate.inventory.vault import VaultKeys

    sources = inventory_sources([os.path.expanduser(s) for s in position.inventories])
    if not sources:
        return None
    return load_inventory(sources, vault=VaultKeys([], False), warn=None)


def _inventory_names(position: Position, groups: bool) -> list[str]:
    from mailstate.inventory.load import Inventory

    inventory = _load(position)
    if not isinstance(inventory, Inventory):
        return []
    names = list(inventory.hosts)
    if groups:
        names += [g for g in inventory.data.groups if g not in names]
    return names


def _group_names(position: Position) -> list[str]:
    from mailstate.inventory.load import Inventory

    inventory = _load(position)
    return list(inventory.data.groups) if isinstance(inventory, Inventory) else []
