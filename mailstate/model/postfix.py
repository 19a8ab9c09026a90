"""Desired state of Postfix: main.cf parameters, master.cf services, lookup tables.

`postfix.main` is a model with one typed, optional field per parameter a supported
Postfix (3.7, 3.10) knows (generated from `postconf -d`; the host's own version is judged
at plan time), so unknown names fail validation (with a "did you mean" hint added by
`model.errors`) and editors complete names from the JSON Schema.
A field set to `null` means "remove the parameter". Names Postfix knows but this table
does not go in `postfix.main_extra`, untyped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from mailstate.filepaths import (
    MAP_INDEX_SUFFIXES,
    map_path_problem,
)
from mailstate.formats import lookup, mastercf
from mailstate.model import postfix_params
from mailstate.model.problems import Problem, raise_problems
from mailstate.model.services import check_service_key
from mailstate.model.values import (
    GENERIC_SCHEMA,
    InetProtocols,
    PostfixInt,
    PostfixText,
    PostfixTime,
    PostfixTlsLevel,
    YesNo,
    checked_line,
    fail,
    main_cf_line,
    render,
    reveal_text,
    to_text,
)

FROZEN = ConfigDict(extra="forbid", frozen=True)

KIND_TYPES: dict[str, Any] = {
    "bool": YesNo, "int": PostfixInt, "time": PostfixTime, "str": PostfixText,
    "tls_level": PostfixTlsLevel, "inet_protocols": InetProtocols,
}

# Names people write that Postfix does not have, with what to do instead (MAIL-FACTS #1).
NOT_PARAMETERS: dict[str, str] = {
    "smtpd_port": "Postfix has no smtpd_port parameter (postconf -n only warns 'unused "
                  "parameter'); ports are master.cf services: add postfix.master "
                  "'submissions/inet' with smtpd_tls_wrappermode=yes for 465 (RFC 8314)",
    "smtp_port": "Postfix has no smtp_port parameter; the SMTP server's port is the "
                 "master.cf service name (smtp/inet = 25)",
    "submission_port": "ports are master.cf services: postfix.master 'submission/inet'",
}


def _field_name(param: str) -> str:
    return param if param.isidentifier() else "p_" + param


_MAIN_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def _main_fields(params: Iterable[str]) -> dict[str, Any]:
    return {
        _field_name(param): (KIND_TYPES[postfix_params.KINDS[param]] | None,
                             Field(None, alias=param, description="Postfix default: "
                                   f"{postfix_params.DEFAULTS[param]!r}"))
        for param in params
    }


@functools.cache
def main_model_for(names: frozenset[str]) -> type[BaseModel]:
    """A typed main.cf model with just the parameters `names` that Postfix knows.

    Building one field per Postfix parameter (1,043) took ~0.2 s at every start; a state
    names a dozen, so validation builds (and caches) a model of those. Names Postfix does
    not know are left out, so they fail as `extra_forbidden` at their own location.
    """
    known = sorted(n for n in names if n in postfix_params.KINDS)
    model = create_model(
        "PostfixMain", __config__=_MAIN_CONFIG, **_main_fields(known))
    model.__doc__ = "main.cf parameters Postfix 3.7/3.10 know, typed; null removes one."
    return model


def full_main_model() -> type[BaseModel]:
    """Every Postfix 3.7/3.10 parameter: for the JSON Schema (editor completion)."""
    return main_model_for(frozenset(postfix_params.KINDS))


def _validate_main(value: Any) -> BaseModel:
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict):
        fail("a mapping of main.cf parameter names to values")
    return main_model_for(frozenset(map(str, value))).model_validate(value)


# The JSON Schema of this field is filled in by `mailstate schema` (full_main_model).
PostfixMain = Annotated[Any, BeforeValidator(_validate_main),
                        WithJsonSchema({"type": "object", "title": "PostfixMain"})]


MainValue = Annotated[
    str | SecretStr | None,
    BeforeValidator(lambda v: v if v is None else main_cf_line(to_text(v))),
    WithJsonSchema({"anyOf": [*GENERIC_SCHEMA["anyOf"], {"type": "null"}]}),
]


def _check_extra_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        fail("a parameter name of letters, digits and '_'")
    if name in postfix_params.KINDS:
        fail(f"a parameter mailstate does not know; {name} is typed: put it under postfix.main")
    return name


def _option_value(value: Any) -> str | SecretStr | None:
    """A `-o` value: one line whose braces balance (a `}` would end a `{ k = v }` group
    and what follows would become new options); a `!secret` stays secret."""
    if value is None:
        return None
    if isinstance(value, list):
        value = ",".join(str(render(v)) for v in value)  # -o values cannot contain spaces
    return checked_line(to_text(value), mastercf.option_value_problem)


def _command(value: Any) -> str:
    """The command name and its arguments, checked and with single blanks between words
    (a newline here would add a whole master.cf service)."""
    if not isinstance(value, str):
        fail("a command name and its arguments, e.g. smtpd")
    problem = mastercf.command_problem(value)
    if problem:
        fail(problem)
    return " ".join(mastercf.split_words(value))


FlagField = Annotated[str, BeforeValidator(
    lambda v: ("y" if v else "n") if isinstance(v, bool) else v),
    AfterValidator(lambda v: v if v in ("y", "n", "-") else fail("y, n or -"))]


def _wakeup(value: Any) -> str:
    text = str(value) if not isinstance(value, bool) else ""
    if text == "-" or re.fullmatch(r"\d+\??", text):
        return text
    fail("- or a number of seconds (optionally followed by ?)")


def _maxproc(value: Any) -> str:
    text = str(value) if not isinstance(value, bool) else ""
    if text == "-" or text.isdigit():
        return text
    fail("- or a process count")


class MasterServiceState(BaseModel):
    """One master.cf entry. Fields left out are kept as they are (or `-` for a new entry)."""

    model_config = FROZEN

    private: FlagField | None = None
    unpriv: FlagField | None = None
    chroot: FlagField | None = None
    wakeup: Annotated[str, BeforeValidator(_wakeup)] | None = None
    maxproc: Annotated[str, BeforeValidator(_maxproc)] | None = None
    command: Annotated[str, BeforeValidator(_command)] | None = Field(
        None, description="command name and arguments, e.g. smtpd")
    options: dict[str, Annotated[str | SecretStr | None, BeforeValidator(_option_value)]] = (
        Field(default_factory=dict, description="-o name=value; null removes the option"))
    absent: bool = Field(False, description="remove this service from master.cf")

    @field_validator("options")
    @classmethod
    def _typed_options(cls, options: dict[str, str | SecretStr | None]
                       ) -> dict[str, str | SecretStr | None]:
        problems: list[Problem] = []
        for name, value in options.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                problems.append(Problem((name,), "an option name of letters, digits and '_'",
                                        name, at_key=True))
                continue
            kind = postfix_params.KINDS.get(name)
            if value is None or kind is None:
                continue
            text = reveal_text(value)
            if text.startswith("$"):
                continue
            try:
                main_model_for(frozenset({name})).model_validate({name: text})
            except ValidationError as exc:  # found: the value as written (a secret masked)
                problems.append(Problem((name,), _first_expected(exc), value))
        if problems:
            raise_problems(problems)
        return options

    def fields(self) -> dict[str, str]:
        """The master.cf fields this state sets (private unpriv chroot wakeup maxproc command)."""
        names = ("private", "unpriv", "chroot", "wakeup", "maxproc", "command")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def _first_expected(exc: Exception) -> str:
    errors: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
    if errors and errors[0].get("ctx", {}).get("expected"):
        return str(errors[0]["ctx"]["expected"])
    return errors[0]["msg"] if errors else str(exc)


MapType = Literal["hash", "btree", "cdb", "dbm", "lmdb", "sdbm", "texthash", "regexp",
                  "pcre", "cidr"]
POSTMAP_TYPES = frozenset({"hash", "btree", "cdb", "dbm", "lmdb", "sdbm"})
MapValue = Annotated[str | SecretStr,
                     BeforeValidator(lambda v: checked_line(to_text(v), lookup.value_problem))]


class LookupMapState(BaseModel):
    """A Postfix lookup table source file. `entries` merge into it; `content` owns it."""

    model_config = FROZEN

    type: MapType = Field("hash", description="table type as in main.cf (hash:/path)")
    entries: dict[str, MapValue | None] | None = Field(
        None, description="keys to set (null removes one); other lines are kept")
    content: dict[str, MapValue] | None = Field(
        None, description="the whole table: lines not listed are removed")
    secret: bool = Field(False, description="every value is a secret (e.g. sasl_passwd)")

    @model_validator(mode="before")
    @classmethod
    def _secret_first(cls, data: Any) -> Any:
        """A secret map's values are secret before they are checked, so that no error
        about one of them ever shows it."""
        if not isinstance(data, dict) or data.get("secret") is not True:
            return data
        data = dict(data)
        for kind in ("entries", "content"):
            table = data.get(kind)
            if isinstance(table, dict):
                data[kind] = {k: SecretStr(str(v)) if isinstance(v, str | int) and not
                              isinstance(v, bool) else v for k, v in table.items()}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> LookupMapState:
        if (self.entries is None) == (self.content is None):
            fail("exactly one of 'entries' (merge) or 'content' (whole file)")
        if self.secret:
            for table in (self.entries, self.content):
                for key, value in (table or {}).items():
                    if isinstance(value, str):
                        table[key] = SecretStr(value)  # type: ignore[index]
        self._check_keys()
        return self

    def _check_keys(self) -> None:
        """Keys as postmap reads them: one word, not a comment, unique once lowercased."""
        kind = "entries" if self.entries is not None else "content"
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        for key in (self.entries or self.content or {}):
            problem = lookup.key_problem(key, self.type)
            folded = key.casefold()
            if problem is None and folded in seen:
                problem = (f"a key written once (postmap lowercases keys: {seen[folded]!r} "
                           "is the same key)")
            seen.setdefault(folded, key)
            if problem:
                problems.append(Problem((kind, key), problem, key, at_key=True))
        if problems:
            raise_problems(problems)

    def needs_postmap(self) -> bool:
        """Indexed types need `postmap TYPE:PATH` after the source changes."""
        return self.type in POSTMAP_TYPES


def _check_map_path(path: str) -> str:
    """A plain absolute path (which directory it may be in is `MailState`'s check)."""
    problem = map_path_problem(path)
    if problem:
        fail(problem)
    return path


class PostfixState(BaseModel):
    """Everything mailstate manages in /etc/postfix."""

    model_config = FROZEN

    main: PostfixMain = Field(default_factory=lambda: main_model_for(frozenset())(),
                              description="main.cf parameters (typed); null removes one")
    main_extra: dict[Annotated[str, AfterValidator(_check_extra_name)], MainValue] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": GENERIC_SCHEMA},
        description="main.cf parameters mailstate does not know (untyped)")
    master: dict[Annotated[str, AfterValidator(check_service_key)], MasterServiceState] = Field(
        default_factory=dict, description="master.cf services keyed 'name/type'")
    maps: dict[Annotated[str, AfterValidator(_check_map_path)], LookupMapState] = Field(
        default_factory=dict, description="lookup table sources keyed by absolute path")

    @model_validator(mode="after")
    def _maps_apart_from_indexes(self) -> PostfixState:
        """No map's source is another map's index: `postmap` would overwrite it (and
        the index of the one would be the other's live file)."""
        problems = [
            Problem(("maps", index), f"a path that is not the index postmap builds for "
                    f"{path} ({spec.type})", index, at_key=True,
                    fix=f"rename one of them, or give {path} a type without an index (texthash)")
            for path, spec in self.maps.items()
            for index in (path + s for s in MAP_INDEX_SUFFIXES.get(spec.type, ()))
            if index in self.maps]
        if problems:
            raise_problems(problems)
        return self

    def main_values(self) -> dict[str, str | None]:
        """main.cf parameters as Postfix writes them; None = remove the parameter."""
        result: dict[str, str | None] = {}
        fields = type(self.main).model_fields
        for field_name in (f for f in fields if f in self.main.model_fields_set):
            alias = fields[field_name].alias or field_name
            result[alias] = render(getattr(self.main, field_name))
        for name, extra in self.main_extra.items():
            result[name] = render(extra)
        return result
