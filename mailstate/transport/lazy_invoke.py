"""Defer paramiko's `import invoke` until a `Match exec` line actually needs it.

Why: paramiko.config imports invoke (and importlib.metadata, unittest.mock, asyncio with
it) at load time, only to run `Match exec` commands from ~/.ssh/config. That is ~45-70 ms
of every run, more than a whole SSH round trip to a lab host. The stdlib's LazyLoader does
not help: the `import` statement itself reads `__spec__`, which executes the module.

So `invoke` is registered as a stand-in module whose attributes load the real invoke on
first use: paramiko's `invoke.run(...)` for `Match exec` still works, and costs the import
only in runs that reach it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stand-in for a module: the first attribute looked up imports the real one."""

    def __getattr__(self, attr: str) -> Any:
        # dunders are what the import system probes; answer them without loading, except
        # __path__, which a submodule import (`import invoke.tasks`) needs from the real one
        if attr.startswith("__") and attr != "__path__":
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def defer(name: str) -> None:
    """Register `name` as deferred, unless it is already loaded or not installed."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    sys.modules[name] = _Deferred(name)


defer("invoke")
