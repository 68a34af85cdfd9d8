"""`python -m gateway`: the Qt-free command line, `serve` when no command is given."""

from __future__ import annotations

import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
