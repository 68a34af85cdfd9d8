"""Anthropic's client tools (bash, text editor, memory) as function tools a local model can call.

The API gives these tools by `type` alone and keeps their schemas to itself; the application runs
them, so a local model can call them as well, given the documented input schemas. The model's
calls come back under the tool's own `name`, which is the name the client runs them by.
Sources: Anthropic's bash, text editor and memory tool pages; the SDKs' `ToolBash20250124`,
`ToolTextEditor20250728`, `BetaMemoryTool20250818*Command` types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CLIENT_TOOL_TYPES", "client_tool_function"]

_PATH = {"type": "string", "description": "Absolute path to the file or directory."}
_VIEW_RANGE = {
    "type": "array",
    "items": {"type": "integer"},
    "minItems": 2,
    "maxItems": 2,
    "description": "For `view` of a file: first and last line (from 1; -1 reads to the end).",
}

_BASH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The bash command to run."},
        "restart": {
            "type": "boolean",
            "description": "Set to true to restart the bash session instead of running a command.",
        },
    },
}
_BASH_DESCRIPTION = (
    "Run a command in a persistent bash session (state such as the working directory and "
    "environment variables is kept between calls). Use `restart: true` to start a fresh session."
)


def _editor(commands: list[str], *, insert_key: str = "new_str") -> dict[str, Any]:
    properties: dict[str, Any] = {
        "command": {"type": "string", "enum": commands, "description": "The command to run."},
        "path": _PATH,
        "view_range": _VIEW_RANGE,
        "file_text": {"type": "string", "description": "For `create`: the new file's content."},
        "old_str": {
            "type": "string",
            "description": "For `str_replace`: the exact text to replace (must occur once).",
        },
        "new_str": {
            "type": "string",
            "description": "For `str_replace`: the replacement text."
            + (" For `insert`: the text to insert." if insert_key == "new_str" else ""),
        },
        "insert_line": {
            "type": "integer",
            "description": "For `insert`: the line after which to insert (0 for the start).",
        },
    }
    if insert_key != "new_str":
        properties[insert_key] = {
            "type": "string",
            "description": "For `insert`: the text to insert.",
        }
    return {"type": "object", "properties": properties, "required": ["command"]}


_EDITOR_DESCRIPTION = (
    "View, create and edit text files. `view` shows a file with line numbers (or lists a "
    "directory); `create` writes a new file; `str_replace` replaces one exact, unique occurrence "
    "of `old_str` with `new_str`; `insert` adds text after line `insert_line`."
)
_UNDO = " `undo_edit` reverts the last edit of `path`."

_MEMORY = _editor(
    ["view", "create", "str_replace", "insert", "delete", "rename"], insert_key="insert_text"
)
_MEMORY["properties"]["old_path"] = {
    "type": "string",
    "description": "For `rename`: the current path.",
}
_MEMORY["properties"]["new_path"] = {"type": "string", "description": "For `rename`: the new path."}
_MEMORY_DESCRIPTION = (
    "Your memory directory (/memories), kept across conversations: check it before starting a "
    "task and record progress and learnings there. Commands: `view` a file or the directory, "
    "`create` a file, `str_replace` exact text, `insert` `insert_text` after line `insert_line`, "
    "`delete` a file or directory, `rename` `old_path` to `new_path`."
)

_FOUR = ["view", "create", "str_replace", "insert"]
_FIVE = [*_FOUR, "undo_edit"]

# type -> (description, input schema)
_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "bash_20250124": (_BASH_DESCRIPTION, _BASH),
    "bash_20241022": (_BASH_DESCRIPTION, _BASH),
    "text_editor_20250728": (_EDITOR_DESCRIPTION, _editor(_FOUR)),
    "text_editor_20250429": (_EDITOR_DESCRIPTION, _editor(_FOUR)),
    "text_editor_20250124": (_EDITOR_DESCRIPTION + _UNDO, _editor(_FIVE)),
    "text_editor_20241022": (_EDITOR_DESCRIPTION + _UNDO, _editor(_FIVE)),
    "memory_20250818": (_MEMORY_DESCRIPTION, _MEMORY),
}
CLIENT_TOOL_TYPES = frozenset(_TOOLS)


def client_tool_function(tool: Mapping[str, Any]) -> dict[str, Any] | None:
    """The OpenAI function for a client tool (`{"type": "bash_20250124", "name": "bash"}`), or
    None for any other tool. A text editor's `max_characters` is the client's business."""
    kind = tool.get("type")
    name = tool.get("name")
    if not isinstance(kind, str) or kind not in _TOOLS or not isinstance(name, str):
        return None
    description, schema = _TOOLS[kind]
    return {"name": name, "description": description, "parameters": schema}
