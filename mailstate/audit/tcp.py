"""Is a TCP port open, closed (refused) or filtered (no answer in time)?

The first question of every audit, asked separately from the protocol dialogue so a
port that accepts connections but speaks something unexpected still shows as open.
"""

from __future__ import annotations

import errno
import socket

from mailstate.audit.results import PortState


def tcp_state(address: str, port: int, timeout: float) -> tuple[PortState, str]:
    """(state, reason): open / closed / filtered / unreachable."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open", ""
    except ConnectionRefusedError:
        return "closed", "connection refused"
    except TimeoutError:
        return "filtered", f"no answer within {timeout:g}s"
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable", exc.strerror or str(exc)
        return "unreachable", str(exc)
