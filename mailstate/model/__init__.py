"""Desired state of a mail host: Pydantic v2 models plus YAML loading with positions.

The engine reads a `MailState` through its accessors (`postfix.main_values()`,
`postfix.master`, `postfix.maps`, `dovecot.settings_flat()`, `roundcube`,
`secret_values()`, `reveal()`); users write it as YAML state files (see model/loader.py,
model/dovecot.py for the flat-key rule, and states/hardened.yaml).
"""

from mailstate.model.dovecot import DovecotState
from mailstate.model.loader import ResolvedState, StateLayer, build_state, load_state
from mailstate.model.postfix import LookupMapState, MasterServiceState, PostfixState
from mailstate.model.roundcube import RoundcubeState
from mailstate.model.state import MailState
from mailstate.model.values import TlsLevel

__all__ = [
    "DovecotState",
    "LookupMapState",
    "MailState",
    "MasterServiceState",
    "PostfixState",
    "ResolvedState",
    "RoundcubeState",
    "StateLayer",
    "TlsLevel",
    "build_state",
    "load_state",
]
