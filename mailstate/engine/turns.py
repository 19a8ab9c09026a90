"""One host's computation at a time: the workers of a fleet run take turns.

Why: a run's workers (up to --forks, 50 by default) each parse their host's facts and
compile, diff and mask its plan. That is pure Python, so only one of them runs at any
moment anyway (the GIL); left to themselves, 50 threads that all want the CPU take it
from each other every few milliseconds, and the switching and the cold caches cost ~9 %
more of this process's CPU on a 100-host plan than the same work done one host after
another (bench/README.md). Waiting here costs nothing: the other hosts' SSH, which is
where the time goes, carries on meanwhile. Hold it only around work without I/O.
"""

from __future__ import annotations

import threading

COMPUTE = threading.Lock()
