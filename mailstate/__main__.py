"""Allow `python -m mailstate`."""

from mailstate.cli import main

raise SystemExit(main())
