"""How state layers merge, on plain data: mappings key by key (order kept), the rest replaces.

One function for the two places that merge data without positions: Dovecot's nested
keys (`model/layers.py`) and the early guess of a host's facts command
(`commands/_prefetch.py`), which runs before pydantic is imported and so cannot import
the model package. The positional merge (`model.layers.merge`) follows the same rule.
"""

from __future__ import annotations

from typing import Any


def merge_plain(base: Any, over: Any) -> Any:
    """`over` merged onto `base`: mappings key by key (base's order, new keys after);
    anything else, including a list, replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = merge_plain(base.get(key), value)
        return merged
    return over
