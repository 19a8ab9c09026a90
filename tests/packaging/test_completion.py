"""Shell completion through the shells' own machinery: bash runs the printed script and
its function with COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT set as bash sets them; zsh
(installed by ./run setup) sources the printed script and runs its `_mailstate` with
`words`, `CURRENT` and `PREFIX` set as zsh's completion system sets them, `compadd` and
`_files` recording what they are given. The hidden `mailstate __complete` it calls is
also checked on its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAILSTATE = Path(sys.executable).with_name("mailstate")

INVENTORY = """\
all:
  children:
    edge:
      hosts:
        mx-a: {ansible_host: 192.0.2.10}
        mx-b: {ansible_host: 192.0.2.11}
    web:
      hosts:
        webmail1: {ansible_host: 192.0.2.20}
"""


def bash_words(line: str) -> list[str]:
    """COMP_WORDS as bash splits a plain line: blanks separate words, and `:` and `=`
    (in COMP_WORDBREAKS) are words of their own."""
    words = re.findall(r"[^\s:=]+|[:=]", line)
    return [*words, ""] if line.endswith(" ") or not words else words


def bash_complete(line: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    words = bash_words(line)
    words[0] = str(MAILSTATE)
    script = (
        f'source <({MAILSTATE} completion bash) || exit 3\n'
        'complete -p mailstate | grep -q -- "-F _mailstate" || exit 4\n'
        f"COMP_WORDS=({' '.join(_quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={_quote(str(MAILSTATE) + line[len('mailstate'):])}\n"
        'COMP_POINT=${#COMP_LINE}\n'
        "_mailstate\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd,
                          capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "hosts.yaml").write_text(INVENTORY)
    (tmp_path / "states").mkdir()
    (tmp_path / "states" / "site.yaml").write_text("postfix: {main: {}}\n")
    return tmp_path


def test_bash_commands_and_options(project: Path) -> None:
    commands = bash_complete("mailstate ", project)
    assert {"plan", "apply", "rollback", "lint", "profiles", "completion", "demo",
            "lab"} <= set(commands)
    assert not [c for c in commands if c.startswith("_")]  # the hidden one stays hidden
    assert bash_complete("mailstate pro", project) == ["profiles"]
    assert bash_complete("mailstate plan --li", project) == ["--limit"]
    assert "--yes" in bash_complete("mailstate rollback --", project)
    assert bash_complete("mailstate profiles ", project) == ["list", "show", "init"]
    assert bash_complete("mailstate completion ", project) == ["bash", "zsh"]
    assert bash_complete("mailstate lab up --release bookworm,t", project) == [
        "bookworm,trixie"]


def test_bash_host_and_group_names_from_the_inventory(project: Path) -> None:
    limit = bash_complete("mailstate plan -i hosts.yaml --limit ", project)
    assert set(limit) == {"mx-a", "mx-b", "webmail1", "all", "ungrouped", "edge", "web"}
    assert bash_complete("mailstate plan -i hosts.yaml --limit mx", project) == [
        "mx-a", "mx-b"]
    # inside a pattern: bash replaces only its word after `:`, so it gets that part
    assert bash_complete("mailstate apply -i hosts.yaml --limit edge:!mx-", project) == [
        "!mx-a", "!mx-b"]
    assert bash_complete("mailstate apply --inventory=hosts.yaml -l web", project) == [
        "webmail1", "web"]  # hosts first, then groups
    # show takes one host (no groups); rollback a pattern
    assert bash_complete("mailstate show -i hosts.yaml ", project) == [
        "mx-a", "mx-b", "webmail1"]
    assert "edge" in bash_complete("mailstate rollback -i hosts.yaml e", project)
    # the inventory may come from $MAILSTATE_INVENTORY, as for the commands themselves
    assert bash_complete("mailstate plan --limit w", project,
                         {"MAILSTATE_INVENTORY": str(project / "hosts.yaml")}) == [
        "webmail1", "web"]
    # no inventory, or a broken one: nothing offered, nothing printed, no prompt
    assert bash_complete("mailstate plan --limit ", project) == []
    (project / "broken.yaml").write_text("all: [\n")
    assert bash_complete("mailstate plan -i broken.yaml --limit ", project) == []


def test_bash_files_and_state_names(project: Path) -> None:
    assert bash_complete("mailstate plan -i ho", project) == ["hosts.yaml"]
    assert set(bash_complete("mailstate lint ", project)) == {"site", "hardened",
                                                              "site-example"}
    assert bash_complete("mailstate lint st", project) == ["states"]  # no name: files
    assert bash_complete("mailstate lint states/", project) == ["states/site.yaml"]
    assert bash_complete("mailstate profiles show h", project) == ["hardened"]


def test_zsh_script_and_its_dynamic_part(project: Path) -> None:
    script = subprocess.run([str(MAILSTATE), "completion", "zsh"], capture_output=True,
                            text=True, check=True).stdout
    assert script.startswith("#compdef mailstate\n")
    assert "__complete zsh" in script and "compdef _mailstate mailstate" in script
    assert shutil.which("zsh"), "zsh is installed by ./run setup"
    check = subprocess.run(["zsh", "-n", "-c", script], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr

    def zsh(*words: str) -> list[str]:
        out = subprocess.run([str(MAILSTATE), "__complete", "zsh", *words], cwd=project,
                             capture_output=True, text=True, check=True, timeout=30).stdout
        return out.splitlines()

    # zsh passes whole (unquoted) words: the pattern comes back whole
    assert zsh("plan", "-i", "hosts.yaml", "--limit", "edge:!mx-") == [
        "words", "edge:!mx-a", "edge:!mx-b"]
    assert zsh("plan", "-i", "hosts.yaml", "--limit", "web")[1:] == ["webmail1", "web"]
    assert zsh("plan", "-i", "")[0] == "files"
    assert zsh("profiles", "init", "")[0] == "dirs"
    assert zsh("pro") == ["words", "profiles"]


def test_complete_stays_light(project: Path) -> None:
    """A TAB must not pay for the model, rich or SSH: only argparse and the inventory."""
    code = ("import sys; from mailstate.commands.completion import candidates; "
            "candidates(['plan', '-i', 'hosts.yaml', '--limit'], ''); "
            "print(sorted(m for m in ('pydantic', 'rich', 'paramiko', 'cryptography') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def zsh_complete(line: str, project: Path) -> list[str]:
    """What the printed zsh script offers for `line` (the cursor at its end), run by zsh
    itself: `compadd` and `_files` are recorded instead of drawn."""
    words = line.split(" ")
    driver = (
        "compdef() { :; }\n"
        "compadd() { print -rl -- \"${@[3,-1]}\"; }\n"  # after `-Q --`
        "_files() { print -r -- \"files $*\"; }\n"
        'eval "$(mailstate completion zsh)"\n'
        "words=(\"${(@Q)${(z)WORDS}}\")\n"  # an empty last word stays
        "CURRENT=${#words}\n"
        "PREFIX=$LAST\n"
        "_mailstate\n")
    env = {**os.environ, "PATH": f"{MAILSTATE.parent}:{os.environ['PATH']}",
           "WORDS": " ".join(f"'{w}'" for w in words), "LAST": words[-1]}
    out = subprocess.run(["zsh", "-f", "-c", driver], cwd=project, env=env,
                         capture_output=True, text=True, timeout=30, check=False)
    assert not out.stderr, out.stderr  # (status 1 is zsh's "no matches")
    return out.stdout.splitlines()


def test_zsh_runs_the_script_as_its_completion_system_does(project: Path) -> None:
    assert zsh_complete("mailstate pro", project) == ["profiles"]
    assert zsh_complete("mailstate plan -i hosts.yaml --limit web", project) == [
        "webmail1", "web"]
    assert zsh_complete("mailstate plan -i hosts.yaml --limit edge:!mx-", project) == [
        "edge:!mx-a", "edge:!mx-b"]
    assert zsh_complete("mailstate plan -i ", project) == ["files "]
    assert zsh_complete("mailstate profiles init ", project) == ["files -/"]
