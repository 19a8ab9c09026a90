"""Render audit reports: a table per host (rich on a terminal, plain text otherwise) or JSON.

The runner returns data; only this module decides how it looks, so the table and the
JSON document always say the same thing. Per port the table shows the TLS mode and
negotiated version, every version the scan saw accepted, the weak cipher classes and a
short certificate verdict; below it, each distinct certificate once with the ports
that serve it (subject, names, expected name and whether it matched, expiry).
"""

from __future__ import annotations

from typing import Any, TextIO

from mailstate.audit.results import CertInfo, HostReport, PortReport, TlsInfo
from mailstate.audit.suites import WEAK_LABELS
from mailstate.diagnostics import Diagnostic
from mailstate.expectations import is_loopback

HEADERS = ("PORT", "SERVICE", "STATE", "TLS", "VERSIONS", "WEAK", "CERT", "FINDINGS")
Row = tuple[str, str, str, str, str, str, str, str]
NO_WRAP = ("PORT", "STATE")
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
    version = tls.protocol.removeprefix("TLSv")
    return f"{'STARTTLS' if tls.mode == 'starttls' else 'implicit'} {version}"


def versions_text(port: PortReport) -> str:
    """`1.0 1.1 1.2 1.3`: every version the scan saw accepted."""
    scan = port.observation.scan
    if scan is None:
        return ""
    if not scan.versions:
        return "none"
    text = " ".join(v.removeprefix("TLSv") for v in scan.versions)
    return f"{text} (incomplete)" if scan.error else text


def weak_text(port: PortReport) -> str:
    scan = port.observation.scan
    if scan is None or not scan.versions:
        return ""
    return ", ".join(WEAK_LABELS.get(k, k) for k in scan.weak_classes) or "-"


def cert_text(port: PortReport) -> str:
    """`824d verified name ok`: days left, chain, expected name."""
    tls = port.observation.tls
    if tls is None or tls.cert is None:
        return ""
    parts = [f"{tls.cert.days_left}d"]
    if tls.verified is not None:
        parts.append("verified" if tls.verified else "NOT VERIFIED")
    if tls.name_matched is not None:
        parts.append("name ok" if tls.name_matched else "NAME MISMATCH")
    return " ".join(parts)


def certificate_lines(report: HostReport) -> list[str]:
    """Each distinct certificate once, with the ports serving it."""
    by_cert: dict[CertInfo, tuple[TlsInfo, list[str]]] = {}
    for port in report.ports:
        tls = port.observation.tls
        if tls is not None and tls.cert is not None:
            by_cert.setdefault(tls.cert, (tls, []))[1].append(str(port.observation.port))
    lines = []
    for cert, (tls, ports) in by_cert.items():
        names = ", ".join(cert.san) or "no subjectAltName"
        when = "EXPIRED" if cert.days_left < 0 else f"{cert.days_left} days left"
        verdict = [f"expected {tls.expected_name}: "
                   + ("matches" if tls.name_matched else "DOES NOT MATCH")]
        if tls.verified is not None:
            verdict.append("chain verified" if tls.verified else "chain NOT verified")
        lines.append(f"certificate on {', '.join(ports)}: {cert.subject}; {names}; "
                     f"until {cert.not_after[:10]} ({when}); {'; '.join(verdict)}")
    return lines


def finding_text(finding: Diagnostic) -> str:
    return f"{finding.severity}: {finding.summary}"


def host_title(report: HostReport) -> str:
    verdict = "ok" if report.ok else "FAIL"
    errors = sum(1 for f in report.all_findings() if f.severity == "error")
    checks = ["state" if report.state_known else "no state",
              "ss checked" if report.ssh_checked else "no ss"]
    suffix = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    return f"{report.name} ({report.address}): {verdict}{suffix} [{', '.join(checks)}]"


def cells(port: PortReport) -> tuple[str, str, str, str, str, str, str]:
    """Every cell of a port's row but the findings."""
    obs = port.observation
    return (str(obs.port), obs.service, state_text(port), tls_text(port),
            versions_text(port), weak_text(port), cert_text(port))


def rows(report: HostReport) -> list[Row]:
    """Table rows; a port with several findings continues on rows with empty cells."""
    table: list[Row] = []
    for port in report.ports:
        texts = [finding_text(f) for f in port.findings] or ["-"]
        table.append((*cells(port), texts[0]))
        table.extend(("", "", "", "", "", "", "", text) for text in texts[1:])
    return table


def render_plain(reports: list[HostReport], out: TextIO) -> None:
    for index, report in enumerate(reports):
        if index:
            out.write("\n")
        out.write(host_title(report) + "\n")
        table = [HEADERS, *rows(report)]
        widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS) - 1)]
        for row in table:
            padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
            out.write("  ".join([*padded, row[-1]]).rstrip() + "\n")
        for line in certificate_lines(report):
            out.write(line + "\n")
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
            if header == "FINDINGS":
                table.add_column(header, ratio=1)
            else:  # short cells; on a narrow terminal they wrap rather than vanish
                table.add_column(header, no_wrap=header in NO_WRAP, overflow="fold")
        for port in report.ports:
            findings = Text("-" if not port.findings else "")
            for i, finding in enumerate(port.findings):
                if i:
                    findings.append("\n")
                findings.append(finding_text(finding), SEVERITY_STYLE[finding.severity])
            table.add_row(*cells(port), findings)
        console.print(table)
        for line in certificate_lines(report):
            console.print(Text(line))
        for finding in report.findings:
            console.print(Text(finding.format(), SEVERITY_STYLE[finding.severity]))

