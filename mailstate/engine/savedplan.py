"""The saved plan (`plan -o FILE`, `apply FILE`) as a validated model.

The file is the user's approval of exact changes, and it may have been edited or damaged
by hand: it is validated on load. A document that is not a plan at all is refused as a
whole; a damaged entry for one host becomes that host's own refusal (naming the host and
the field), so the other hosts are still applied exactly as approved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from mailstate.diagnostics import Diagnostic, Location, error
from mailstate.inputs import read_capped

PLAN_FORMAT = 1
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class SavedFile(BaseModel):
    """One file the plan changes: its live digest then (None: absent) and its new one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    before_sha256: Sha256 | None
    after_sha256: Sha256


class SavedHost(BaseModel):
    """What was approved for one host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[str, SavedFile] = Field(default_factory=dict)
    actions: list[str] = Field(default_factory=list)


class SavedPlan(BaseModel):
    """The whole document; `hosts` entries are checked one by one (see `damaged`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1]
    created: str = ""
    inventory: str | list[str] | None = None
    limit: str | None = None
    hosts: dict[str, SavedHost] = Field(default_factory=dict)
    _damaged: dict[str, list[Diagnostic]] = PrivateAttr(default_factory=dict)

    def damaged(self, host: str) -> list[Diagnostic]:
        """Why this host's entry cannot be used (empty: it is valid, or absent)."""
        return self._damaged.get(host, [])

    def approved_hosts(self) -> list[str]:
        """Every host the file names, valid entry or not (what `apply FILE` targets)."""
        return [*self.hosts, *self._damaged]

    def document(self) -> dict[str, Any]:
        """The JSON document `plan -o` writes."""
        return self.model_dump(mode="json")


def _field_path(parts: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in parts) or "(the entry itself)"


def _host_problems(host: str, exc: ValidationError, path: str) -> list[Diagnostic]:
    return [Diagnostic("error", f"{host}: the saved plan's entry for this host is damaged: "
                       f"{_field_path(e['loc'])}: {e['msg']}", Location(path),
                       code="saved-plan-damaged",
                       fix="nothing was changed on this host; save a fresh plan with "
                           "`mailstate plan -o FILE`")
            for e in exc.errors()]


def parse_saved_plan(document: Any, path: str = "plan.json") -> SavedPlan:
    """Validate a loaded document: the frame strictly, each host entry on its own."""
    if not isinstance(document, dict):
        raise error("not a mailstate plan file (not a JSON object)", file=path,
                    fix="create one with `mailstate plan -i INVENTORY -o FILE`")
    raw_hosts = document.get("hosts", {})
    try:
        frame = SavedPlan.model_validate({**document, "hosts": {}})
        if not isinstance(raw_hosts, dict):
            raise error("the saved plan's `hosts` is not an object", file=path)
    except ValidationError as exc:
        details = "\n".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise error("not a mailstate plan file (or one of another version)", file=path,
                    detail=details,
                    fix="create one with `mailstate plan -i INVENTORY -o FILE`") from exc
    hosts: dict[str, SavedHost] = {}
    problems: dict[str, list[Diagnostic]] = {}
    for name, entry in raw_hosts.items():
        try:
            hosts[str(name)] = SavedHost.model_validate(entry)
        except ValidationError as exc:
            problems[str(name)] = _host_problems(str(name), exc, path)
    plan = frame.model_copy(update={"hosts": hosts})
    plan._damaged = problems
    return plan


def load_saved_plan(path: str) -> SavedPlan:
    """Read and validate `plan -o`'s file; a clear error, never a traceback."""
    text = read_capped(Path(path), "saved plan")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise error(f"cannot read saved plan: {exc}", file=path,
                    fix="create one with `mailstate plan -i INVENTORY -o FILE`") from exc
    return parse_saved_plan(document, path)
