"""The release workflow, checked offline: GitHub's workflow schema (shipped inside
check-jsonschema), and that it builds, self-tests and uploads on every platform without secrets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.paths import REPO

WORKFLOW = REPO / ".github" / "workflows" / "release.yml"


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def load() -> dict[Any, Any]:
    data: dict[Any, Any] = YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))
    return data


def test_the_workflow_is_valid_against_github_s_schema() -> None:
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        done = subprocess.run(
            [tool("check-jsonschema"), "--builtin-schema", schema, str(WORKFLOW)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps: []\n", encoding="utf-8")
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "runs-on" in done.stdout


def test_it_builds_and_self_tests_on_three_platforms_and_uploads_on_a_tag() -> None:
    workflow = load()
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["os"] == ["windows-latest", "macos-latest", "ubuntu-22.04"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "uv run python packaging/build.py" in runs
    # The paths packaging/build.py produces on each platform.
    assert "dist/lmgate/lmgate self-test" in runs
    assert '"dist/LM Gate.app/Contents/MacOS/lmgate" self-test' in runs
    assert "dist/lmgate/lmgate.exe self-test" in runs
    assert "gnome-keyring-daemon --unlock" in runs
    (upload,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload")]
    assert upload["if"] == "startsWith(github.ref, 'refs/tags/')"
    assert "dist/lmgate-*.tar.gz" in upload["with"]["path"]
    assert "v*" in workflow["on"]["push"]["tags"]


def test_it_uses_no_secrets_and_only_reads_the_repository() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    expressions = re.findall(r"\$\{\{(.*?)\}\}", text)
    assert expressions and not [e for e in expressions if "secrets" in e or "token" in e]
    assert load()["permissions"] == {"contents": "read"}
