"""LM Gate's gateway: the Anthropic Messages API in front of local and remote model servers."""

import sys

__version__ = "0.1.0"

# httpx's package imports its command-line client (`httpx._main`: click, pygments, rich) whenever
# those are installed, as they are beside the development tools: ~3.5 MB resident in every
# gateway started from a checkout. The gateway never runs that client; a None entry makes the
# import fail the way it does in a release, where httpx falls back to a stub `httpx.main`.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
