"""YAML is bounded: alias bombs, self-referencing aliases and deep nesting are refused
quickly at file:line, and merge keys resolve without copying."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from mailstate.diagnostics import MailstateError
from mailstate.model.yamlsource import MAX_NODES, parse_yaml
from tests.engine.conftest import mailstate

LAUGHS = "a: &a [" + ",".join(["lol"] * 9) + "]\n" + "".join(
    f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdefgh", "bcdefghi",
                                                                     strict=True))


def test_billion_laughs_is_refused_fast_by_lint(tmp_path: Path) -> None:
    state = tmp_path / "bomb.yaml"
    state.write_text("vars:\n  x: 1\n" + LAUGHS)
    started = time.monotonic()
    out = mailstate("lint", str(state), timeout=60)
    assert time.monotonic() - started < 20
    assert out.code == 1 and "Traceback" not in out.stderr
    assert f"{state}:" in out.stdout and f"at most {MAX_NODES} values" in out.stdout


@pytest.mark.parametrize(("text", "words"), [
    ("a: &a [*a]\n", "inside the node it names"),
    ("a: &a {b: *a}\n", "inside the node it names"),
    ("a: &a {<<: *a}\n", "merges itself"),
    ("a: {<<: [1, 2]}\n", "a mapping or a list of mappings"),
    ("[" * 80 + "]" * 80 + "\n", "levels of nesting"),
])
def test_recursive_or_deep_documents_are_refused_with_a_location(text: str, words: str) -> None:
    with pytest.raises(MailstateError) as info:
        parse_yaml(text, "x.yaml")
    diag = info.value.diagnostics[0]
    assert words in diag.summary and str(diag.location).startswith("x.yaml:1:")


def test_merge_keys_keep_their_meaning_without_duplicates() -> None:
    doc = parse_yaml("x: &x {a: 1, c: 1}\ny: &y {<<: [*x, {a: 2, d: 2}], b: 2}\n"
                     "z: {<<: *y, a: 3}\n", "m.yaml")
    assert doc.data["y"] == {"a": 1, "c": 1, "d": 2, "b": 2}  # first merged mapping wins
    assert doc.data["z"] == {"c": 1, "d": 2, "b": 2, "a": 3}  # own keys win
    assert doc.duplicates == []


def test_a_merge_bomb_stays_small() -> None:
    text = "a0: &a0 {k: 1}\n" + "".join(
        f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 9)}]}}\n" for i in range(1, 12))
    assert parse_yaml(text, "m.yaml").data["a11"] == {"k": 1}


def _model_imports() -> dict[str, set[str]]:
    """Module -> the mailstate.model modules it imports, anywhere in the file."""
    root = Path(__file__).resolve().parents[2] / "mailstate" / "model"
    graph: dict[str, set[str]] = {}
    for source in root.glob("*.py"):
        if source.stem == "__init__":
            continue
        found: set[str] = set()
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
                if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                parts = name.split(".")
                model = parts[:2] == ["mailstate", "model"] and len(parts) > 2
                if model and (root / f"{parts[2]}.py").exists():
                    found.add(parts[2])
        graph[source.stem] = found - {source.stem}
    return graph


def test_model_imports_have_no_cycle() -> None:
    """Validators raise through model.problems; only model.errors maps errors to
    diagnostics, and no model module imports it (even inside a function)."""
    graph = _model_imports()
    assert {m for m, deps in graph.items() if "errors" in deps} == {"loader"}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        return any(dep == target or (dep not in seen and reaches(dep, target, seen | {dep}))
                   for dep in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m, set())] == []
