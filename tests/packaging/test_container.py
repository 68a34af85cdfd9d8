"""The headless container: the Dockerfile and compose.yaml linted offline (no container engine
runs here), and the container's command run as it would run inside: without Qt, on 0.0.0.0,
with the token required, the health check's own command, and the Host names of compose.yaml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from tests.fakes import free_port
from tests.paths import REPO

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "compose.yaml"
# The image leaves PySide6 out (`uv sync --no-install-package`): the command must not need it.
WITHOUT_QT = (
    "import sys; sys.modules['PySide6'] = None; from app.launcher import main; sys.exit(main())"
)


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def compose() -> dict[Any, Any]:
    data: dict[Any, Any] = YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))
    return data


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_hadolint_passes() -> None:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_is_valid_against_the_compose_spec() -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_a_user_serves_on_all_addresses_and_checks_health() -> None:
    found = instructions()
    final = found[max(i for i, (op, _) in enumerate(found) if op == "FROM") :]
    assert final[0] == ("FROM", "python:3.11-slim")
    user = [arg for op, arg in final if op == "USER"]
    assert user and user[-1] not in ("0", "root")
    assert ("ENTRYPOINT", '["lmgate"]') in final
    command = json.loads(next(arg for op, arg in final if op == "CMD"))
    assert command[:3] == ["serve", "--host", "0.0.0.0"]
    health = next(arg for op, arg in final if op == "HEALTHCHECK")
    assert "/health" in health and "LMGATE_TOKEN" in health
    installs = " ".join(arg for op, arg in found if op == "RUN")
    assert "--no-install-package pyside6-essentials" in installs and "--no-dev" in installs


def test_the_build_context_holds_what_the_image_needs() -> None:
    rules = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    included = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = set()
    for op, arg in instructions():
        if op == "COPY" and not arg.startswith("--from"):
            copied |= set(arg.split()[:-1])
    assert copied <= included, copied - included
    assert "*" in rules  # everything else (the venv, tests, builds) stays out


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """compose.yaml's config, as the container reads it."""
    content = compose()["configs"]["lmgate-config"]["content"]
    path = tmp_path / "config.toml"
    path.write_text(content, encoding="utf-8")
    return path


def test_compose_configures_the_team_s_host_names(config_file: Path) -> None:
    from gateway.config import GatewayConfig

    config = GatewayConfig.model_validate(tomllib.loads(config_file.read_text()))
    assert config.allowed_hosts and not config.discover
    service = compose()["services"]["lmgate"]
    assert "--config=/etc/lmgate/config.toml" in service["command"]
    assert service["configs"][0]["target"] == "/etc/lmgate/config.toml"
    assert service["environment"]["LMGATE_TOKEN"].startswith("${LMGATE_TOKEN:?")


def test_the_container_command_refuses_to_start_without_a_token(config_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LMGATE_TOKEN"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_QT,
            "serve",
            "--host",
            "0.0.0.0",
            "--config",
            str(config_file),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in done.stderr


def test_the_container_command_serves_and_its_health_check_passes(config_file: Path) -> None:
    port = free_port()
    token = "team-token"
    env = {**os.environ, "LMGATE_TOKEN": token}
    server = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_QT, "serve", "--host", "0.0.0.0", "--port", str(port)]
        + ["--config", str(config_file)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        for line in server.stdout:  # the gateway prints its URL once it listens
            if f":{port}" in line or time.monotonic() > deadline:
                break
        health = next(arg for op, arg in instructions() if op == "HEALTHCHECK")
        probe = json.loads(health[health.index("CMD") + 3 :].strip())
        assert probe[:2] == ["python", "-c"]
        check = re.sub(r"127\.0\.0\.1:8082", f"127.0.0.1:{port}", probe[2])
        done = subprocess.run(
            [sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        url = f"http://127.0.0.1:{port}/health"
        headers = {"x-api-key": token}
        team = httpx.get(url, headers={**headers, "host": f"gpu-box:{port}"}, timeout=10)
        assert team.status_code == 200
        stranger = httpx.get(url, headers={**headers, "host": f"evil.example:{port}"}, timeout=10)
        assert stranger.status_code == 403 and "allowed_hosts" in stranger.text
        no_token = httpx.get(url, timeout=10)
        assert no_token.status_code == 401
    finally:
        server.terminate()
        server.wait(30)
        if server.stdout is not None:
            server.stdout.close()


TEAM_COMPOSE = REPO / "compose.team.yaml"


def test_the_team_compose_file_is_valid_and_its_replicas_share_redis() -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(TEAM_COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    from gateway.config import GatewayConfig

    team: dict[Any, Any] = YAML(typ="safe").load(TEAM_COMPOSE.read_text(encoding="utf-8"))
    config = GatewayConfig.model_validate(
        tomllib.loads(team["configs"]["lmgate-team-config"]["content"])
    )
    assert config.team.require_client_keys and config.backends[0].kind == "vllm"
    service = team["services"]["lmgate"]
    assert "--redis=redis://redis:6379/0" in service["command"]
    assert service["deploy"]["replicas"] > 1 and "ports" not in service
    assert "./team:/etc/lmgate" in service["volumes"]
    nginx = team["configs"]["nginx-config"]["content"]
    # Compose turns $$ into $: nginx passes the client's Host, which the gateway checks.
    assert "proxy_set_header Host $$http_host;" in nginx and "proxy_buffering off;" in nginx
