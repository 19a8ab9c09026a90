"""Render audit reports: a table per host (rich on a terminal, plain text otherwise) or JSON.

The runner returns data; only this module decides how it looks, so the table and the
JSON document always say the same thing.
"""

from __future__ import annotations

from typing import Any, TextIO

from mailstate.audit.results import HostReport, PortReport
from mailstate.diagnostics import Diagnostic
from mailstate.expectations import is_loopback

HEADERS = ("PORT", "SERVICE", "STATE", "TLS", "FINDINGS")
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def report_json(reports: list[HostReport]) -> dict[str, Any]:
    """The `--json` document: `ok`, per-host reports and severity counts."""
    counts = {"error": 0, "warning": 0, "info": 0}
    for report in reports:
        for finding in report.all_findings():
            counts[finding.severity] += 1
    return {"ok": all(r.ok for r in reports), "counts": counts,
            "hosts": [r.to_json() for r in reports]}


def state_text(port: PortReport) -> str:
    """Outside view, plus what `ss` on the host adds when the outside sees nothing."""
    obs = port.observation
    local = port.local_addresses
    if obs.state != "open" and local:
        return "localhost" if all(is_loopback(a) for a in local) else f"{obs.state} (listening)"
    return obs.state


def tls_text(port: PortReport) -> str:
    obs = port.observation
    if obs.tls is None:
        if obs.state != "open":
            return ""
        if "TLS" in obs.error:
            return "failed"
        return "none" if obs.starttls is False else ""
    tls = obs.tls
    parts = ["STARTTLS" if tls.mode == "starttls" else "implicit", tls.protocol]
    if tls.cert is not None:
        parts.append(f"cert {tls.cert.days_left}d")
    if tls.verified is True:
        parts.append("verified")
    elif tls.verified is False:
        parts.append("NOT VERIFIED")
    return " ".join(parts)


def finding_text(finding: Diagnostic) -> str:
    return f"{finding.severity}: {finding.summary}"


def host_title(report: HostReport) -> str:
    verdict = "ok" if report.ok else "FAIL"
    errors = sum(1 for f in report.all_findings() if f.severity == "error")
    checks = ["state" if report.state_known else "no state",
              "ss checked" if report.ssh_checked else "no ss"]
    suffix = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    return f"{report.name} ({report.address}): {verdict}{suffix} [{', '.join(checks)}]"


def rows(report: HostReport) -> list[tuple[str, str, str, str, str]]:
    """Table rows; a port with several findings continues on rows with empty cells."""
    table = []
    for port in report.ports:
        obs = port.observation
        texts = [finding_text(f) for f in port.findings] or ["-"]
        table.append((str(obs.port), obs.service, state_text(port), tls_text(port), texts[0]))
        table.extend(("", "", "", "", text) for text in texts[1:])
    return table


def render_plain(reports: list[HostReport], out: TextIO) -> None:
    for index, report in enumerate(reports):
        if index:
            out.write("\n")
        out.write(host_title(report) + "\n")
        table = [HEADERS, *rows(report)]
        widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS) - 1)]
        for row in table:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
            out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
        for finding in report.findings:
            out.write(finding.format() + "\n")


def render_rich(reports: list[HostReport], out: TextIO) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out)
    for report in reports:
        table = Table(title=escape(host_title(report)), title_justify="left", show_lines=False)
        for header in HEADERS:
            table.add_column(header, no_wrap=header != "FINDINGS")
        for port in report.ports:
            findings = Text("-" if not port.findings else "")
            for i, finding in enumerate(port.findings):
                if i:
                    findings.append("\n")
                findings.append(finding_text(finding), SEVERITY_STYLE[finding.severity])
            table.add_row(str(port.observation.port), port.observation.service,
                          state_text(port), tls_text(port), findings)
        console.print(table)
        for finding in report.findings:
            console.print(Text(finding.format(), SEVERITY_STYLE[finding.severity]))

