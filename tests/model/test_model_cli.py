"""CLI: lint/show/schema through the installed entry point; exit codes, no tracebacks,
no secrets in any output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAILSTATE = ROOT / ".venv" / "bin" / "mailstate"
SECRET = "s3cr3t-relay-password"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(MAILSTATE), *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60, check=False)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def secret_inventory(tmp_path: Path) -> Path:
    (tmp_path / "states").mkdir()
    (tmp_path / "states" / "site.yaml").write_text(f"""
postfix:
  main:
    relayhost: "[smtp.example.net]:587"
    smtp_sasl_auth_enable: yes
    smtp_sasl_password_maps: hash:/etc/postfix/sasl_passwd
  maps:
    /etc/postfix/sasl_passwd:
      secret: true
      entries: {{"[smtp.example.net]:587": "user:{SECRET}"}}
roundcube:
  config:
    des_key: "{{{{ des }}}}"
""")
    inv = tmp_path / "inventory" / "hosts.yaml"
    inv.parent.mkdir()
    inv.write_text(f"""
all:
  hosts:
    mx1:
      ansible_host: 192.0.2.10
      mailstate_states: [hardened, site]
      des: !secret "{SECRET}-des"
""")
    return inv


def test_lint_exit_codes() -> None:
    assert run("lint", "states/hardened.yaml").returncode == 0
    bad = run("lint", "tests/data/seed-guide.yaml")
    assert bad.returncode == 1
    assert "postfix-map-wildcard" in bad.stdout
    assert "tests/data/seed-guide.yaml:51:" in bad.stdout


def test_lint_json_and_names() -> None:
    result = run("lint", "hardened", "tests/data/seed-guide.yaml", "--json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    # the profile alone: no error, only the warning that asks for the host's name
    assert [f["code"] for f in doc["targets"][0]["findings"]] == ["mail-hostname-unset"]
    assert any(f["severity"] == "error" for f in doc["targets"][1]["findings"])
    finding = doc["targets"][1]["findings"][0]
    assert {"severity", "summary", "location", "fix", "reference", "code"} <= set(finding)


def test_lint_invalid_state_is_an_error_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("postfix:\n  main:\n    smtpd_tls_securty_level: may\n")
    result = run("lint", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3:5" in result.stdout and "did you mean" in result.stdout
    assert run("lint", str(tmp_path / "missing.yaml")).returncode == 1
    assert run("lint").returncode == 1


def test_lint_inventory_with_limit(tmp_path: Path) -> None:
    inv = secret_inventory(tmp_path)
    result = run("lint", "-i", str(inv), "--limit", "mx1", "--json")
    assert SECRET not in result.stdout + result.stderr
    assert json.loads(result.stdout)["targets"][0]["target"] == "mx1"
    unknown = run("lint", "-i", str(inv), "--limit", "mx9")
    assert unknown.returncode == 1 and "mx9" in unknown.stderr


def test_show_masks_secrets_and_gives_sources(tmp_path: Path) -> None:
    inv = secret_inventory(tmp_path)
    plain = run("show", "mx1", "-i", str(inv))
    assert plain.returncode == 0, plain.stderr
    assert SECRET not in plain.stdout + plain.stderr
    assert "roundcube.config.des_key = ***" in plain.stdout
    assert "states/hardened.yaml:" in plain.stdout
    result = run("show", "mx1", "-i", str(inv), "--json")
    assert SECRET not in result.stdout
    doc = json.loads(result.stdout)
    rows = {r["path"]: r for r in doc["settings"]}
    relay = rows["postfix.main.relayhost"]
    assert relay["source"].endswith("states/site.yaml:4:16")
    assert rows['postfix.maps./etc/postfix/sasl_passwd.entries."[smtp.example.net]:587"'][
        "value"] == "***"


def test_show_unknown_host() -> None:
    result = run("show", "nohost", "-i", "inventory/example.yaml")
    assert result.returncode == 1 and "nohost" in result.stderr


def test_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert run("schema", "-o", str(out)).returncode == 0
    schema = json.loads(out.read_text())
    assert set(schema["properties"]) == {"postfix", "dovecot", "roundcube", "vars",
                                           "allow_paths"}
    assert "smtpd_tls_security_level" in schema["$defs"]["PostfixMain"]["properties"]
    assert json.loads(run("schema").stdout) == schema
