"""LM Gate's gateway: the Anthropic Messages API in front of local and remote model servers."""

__version__ = "0.1.0"
