"""Real mail hosts for tests, the demo and new users: see `harness.Lab`.

Importing the package is cheap (no subprocess, no root needed); everything happens
when a `Lab` method is called.
"""

from mailstate.lab.harness import HostStatus, Lab, LabHost

__all__ = ["HostStatus", "Lab", "LabHost"]
