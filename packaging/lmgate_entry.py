"""The frozen app's entry point: the `lmgate` command (the desktop app without arguments)."""

from __future__ import annotations

import sys

from app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
