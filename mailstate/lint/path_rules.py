"""Lint rules about the files a state writes (see `mailstate.filepaths`).

The model refuses a file outside its kind's directory unless `allow_paths` lists it; this
rule makes every such file visible in each lint run, so a reviewer sees them without
reading the state files for it.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailstate.lint.registry import Finding, rule
from mailstate.lint.view import StateView


@rule("outside-path", "warning", "a file written outside its kind's directory",
      "docs/guarantees.md (a state writes only what its kind owns)")
def outside_path(view: StateView) -> Iterator[Finding]:
    for path in view.state.outside_paths():
        maps = view.state.postfix.maps if view.state.postfix else {}
        where = ("postfix", "maps", path) if path in maps else ("roundcube", "path")
        yield Finding(f"{path} is written outside its kind's directory (allowed by "
                      "allow_paths)", where,
                      fix="keep allow_paths to files that must live there; remove the entry "
                          "when it is no longer needed")
