"""Run every probe of every host under one concurrency cap, then judge the results.

Probes are independent network round trips, so they run in one bounded thread pool:
`concurrency` caps the sockets open at once across all hosts, and each probe is bounded
by its socket timeout plus a hard wall-clock limit (a stuck dialogue is reported, never
waited for). The `ss -ltnH` step on the host is one more task in the same pool; how it
reaches the host (SSH, the lab) is the caller's business: a `listeners()` callable.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from mailstate.audit.findings import certificate_ports, expectation_findings, hygiene_findings
from mailstate.audit.probes import DEFAULT_SERVICES, probe_port
from mailstate.audit.results import HostReport, PortObservation, PortReport, ProbeOptions
from mailstate.audit.scan import SCAN_STEPS
from mailstate.diagnostics import Diagnostic, MailstateError
from mailstate.expectations import (
    ListenerExpectation,
    check_listeners,
    parse_ss,
)

SS_COMMAND = "ss -ltnH"
LOCALHOST_TARGETS = ("127.0.0.1", "::1", "localhost")  # where a localhost-only port answers
DIALOGUE_STEPS = 10  # socket operations a dialogue may need, each bounded by the timeout


@dataclass(frozen=True)
class Target:
    """A host to audit: where to probe, what its state implies, how to run `ss` there.

    `expected_name` is the name its certificates must carry (clients connect by it);
    empty means the address itself.
    """

    name: str
    address: str
    expectations: tuple[ListenerExpectation, ...] = ()
    state_known: bool = False
    listeners: Callable[[], str] | None = field(default=None, compare=False)
    problems: tuple[Diagnostic, ...] = ()  # e.g. the state did not validate
    expected_name: str = ""

    @property
    def certificate_name(self) -> str:
        return self.expected_name or self.address


def ports_of(target: Target) -> dict[int, str]:
    """The mail ports plus every port the state names -> service to speak there."""
    ports = dict(DEFAULT_SERVICES)
    for exp in target.expectations:
        if exp.reach != "closed" or exp.port not in ports:
            ports[exp.port] = exp.service
    return dict(sorted(ports.items()))


def audit(targets: list[Target], options: ProbeOptions) -> list[HostReport]:
    """Probe every target and return one report per target, in the order given."""
    limit = options.timeout * (DIALOGUE_STEPS + (SCAN_STEPS if options.scan_tls else 0)) + 1
    pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency),
                              thread_name_prefix="audit")
    try:
        probes = {(t.name, port): pool.submit(probe_port, t.address, port, service, options,
                                              _implicit(t, port), t.certificate_name)
                  for t in targets for port, service in ports_of(t).items()}
        ss_jobs = {t.name: pool.submit(t.listeners) for t in targets if t.listeners}
        jobs: list[Future[Any]] = [*probes.values(), *ss_jobs.values()]
        wait(jobs, timeout=limit)
        return [_report(t, probes, ss_jobs.get(t.name), options, limit) for t in targets]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _implicit(target: Target, port: int) -> bool | None:
    for exp in target.expectations:
        if exp.port == port and exp.tls is not None:
            return exp.tls == "implicit"
    return None


def _report(target: Target, probes: dict[tuple[str, int], Future[PortObservation]],
            ss_job: Future[str] | None, options: ProbeOptions, limit: float) -> HostReport:
    host_findings: list[Diagnostic] = list(target.problems)
    ss_output = _ss_result(target, ss_job, limit, host_findings)
    local = _local_addresses(ss_output)
    ss_findings = check_listeners(list(target.expectations), ss_output) \
        if ss_output is not None else []
    loopback_target = target.address in LOCALHOST_TARGETS
    observations = [_observation(probes[(target.name, port)], port, service, limit)
                    for port, service in ports_of(target).items()]
    cert_ports = certificate_ports(observations)
    reports = []
    for observation in observations:
        port = observation.port
        expected = [e for e in target.expectations if e.port == port]
        findings = hygiene_findings(observation, options.cafile, expected, cert_ports[port])
        findings.extend(_expectation_findings(observation, expected, local,
                                              ss_output is not None, loopback_target))
        if not any(f.code in ("port-open", "port-closed") for f in findings):
            findings.extend(f for f in ss_findings if f.extra.get("port") == port)
        addresses = tuple(local.get(port, ())) if ss_output is not None else None
        reports.append(PortReport(observation, expected[0] if expected else None, addresses,
                                  tuple(findings)))
    return HostReport(target.name, target.address, tuple(reports), tuple(host_findings),
                      ssh_checked=ss_output is not None, state_known=target.state_known,
                      expected_name=target.certificate_name)


def _observation(future: Future[PortObservation], port: int, service: str,
                 limit: float) -> PortObservation:
    if future.done():
        return future.result()
    return PortObservation(port, service, "filtered",
                           error=f"probe did not finish within {limit:g}s")


def _expectation_findings(observation: PortObservation, expected: list[ListenerExpectation],
                          local: dict[int, list[str]], ssh_checked: bool,
                          loopback_target: bool) -> list[Diagnostic]:
    findings = []
    for exp in expected:
        addresses = tuple(local.get(exp.port, ())) if ssh_checked else None
        findings.extend(expectation_findings(observation, exp, addresses, loopback_target))
        if exp.reach == "localhost" and not ssh_checked and not loopback_target:
            findings.append(Diagnostic(
                "info", f"{exp.port} ({exp.service}) localhost listener not checked on the host",
                detail="closed from outside as expected; without SSH `ss -ltn` cannot show "
                       "it listens on 127.0.0.1", code="not-checked",
                extra={"port": exp.port, "service": exp.service, "source": exp.source}))
    return findings


def _ss_result(target: Target, job: Future[str] | None, limit: float,
               host_findings: list[Diagnostic]) -> str | None:
    if job is None:
        return None
    if not job.done():
        host_findings.append(Diagnostic("error", f"`{SS_COMMAND}` on {target.name} did not "
                                        f"finish within {limit:g}s", code="ssh-failed"))
        return None
    exc = job.exception()
    if exc is None:
        return job.result()
    diags = exc.diagnostics if isinstance(exc, MailstateError) else [
        Diagnostic("error", f"{type(exc).__name__}: {exc}")]
    for diag in diags:
        host_findings.append(Diagnostic(
            "error", f"cannot check listeners on {target.name}: {diag.summary}",
            detail=diag.detail, fix=diag.fix, code="ssh-failed"))
    return None


def _local_addresses(ss_output: str | None) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for sock in parse_ss(ss_output or ""):
        if sock.address not in found.setdefault(sock.port, []):
            found[sock.port].append(sock.address)
    return found
