"""`mailstate schema`: the JSON Schema of state files, for editor completion and checks.

Point an editor at it, e.g. for the YAML language server:
`# yaml-language-server: $schema=mailstate-state.schema.json` at the top of a state file.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("schema", help="write the JSON Schema of state files")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")


def state_file_schema() -> dict[str, Any]:
    from mailstate.model import MailState
    from mailstate.model.postfix import full_main_model

    schema = MailState.model_json_schema(by_alias=True)
    # postfix.main is validated with a model of just the names a state uses (fast start);
    # the schema lists every parameter Postfix 3.7 and 3.10 know, for completion.
    main = full_main_model().model_json_schema(by_alias=True,
                                               ref_template="#/$defs/{model}")
    schema.setdefault("$defs", {}).update(main.pop("$defs", {}))
    schema["$defs"]["PostfixMain"] = main
    field = schema["$defs"]["PostfixState"]["properties"]["main"]
    schema["$defs"]["PostfixState"]["properties"]["main"] = {
        "$ref": "#/$defs/PostfixMain", "description": field.get("description", "")}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mailstate state file"
    schema["properties"]["vars"] = {
        "type": "object",
        "description": "defaults for {{ name }} substitution; inventory variables override",
    }
    return schema


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from mailstate.diagnostics import error

    text = json.dumps(state_file_schema(), indent=2, sort_keys=True) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot write {args.output}: {exc.strerror or exc}", args.output) from None
    return 0
