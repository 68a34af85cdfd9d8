"""The reference the gateway's token counter is checked against: `bpe-openai`, an independent
Rust implementation of tiktoken's o200k_base (a development dependency only)."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # bpe_openai reads its tables through a deprecated importlib.resources call.
    warnings.simplefilter("ignore", DeprecationWarning)
    import bpe_openai

    REFERENCE = bpe_openai.get_encoding("o200k_base")

__all__ = ["REFERENCE", "reference_count"]


def reference_count(text: str) -> int:
    """Tokens in `text` by the reference, special-token strings counted as plain text."""
    return len(REFERENCE.encode_ordinary(text))
