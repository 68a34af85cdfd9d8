"""`python -m tests.app.shoot OUTDIR SUFFIX`: the app against fake LM Studio and Ollama servers,
a few real requests through it, and a PNG of every section. Run in a process of its own so that
QT_SCALE_FACTOR (set by the caller) applies from the start."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import anthropic
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from gateway.config import BackendConfig, ConfigLoad, GatewayConfig
from tests.fakes import FakeBackend, Text, Usage

LMSTUDIO_MODELS = ["qwen3-coder-30b-a3b-instruct", "qwen3-4b-instruct-2507", "devstral-small"]
OLLAMA_MODELS = ["gpt-oss:20b", "qwen3:8b"]


def spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        spin(50)


def main(out: Path, suffix: str, theme: str = "light") -> None:
    scratch = Path(tempfile.mkdtemp(prefix="lmgate-shoot-"))
    for name in ("config", "state", "data"):
        os.environ[f"XDG_{name.upper()}_HOME"] = str(scratch / name)
    os.environ["CLAUDE_CONFIG_DIR"] = str(scratch / "claude")
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    app = QApplication(sys.argv[:1])
    from app.desktop import Desktop  # after the QApplication and the environment

    lmstudio = FakeBackend("lmstudio", models=LMSTUDIO_MODELS, context_length=65536).start()
    ollama = FakeBackend("ollama", models=OLLAMA_MODELS, context_length=8192).start()
    try:
        config = GatewayConfig(
            port=0,
            discover=False,
            backends=[
                BackendConfig(id="lmstudio", url=lmstudio.url),
                BackendConfig(id="ollama", url=ollama.url),
            ],
            big=f"lmstudio:{LMSTUDIO_MODELS[0]}",
            theme=theme,
        )
        desktop = Desktop(
            ConfigLoad(config=config, path=scratch / "config.toml"),
            quit_app=lambda: None,
            tray_available=False,
        )
        desktop.start()
        controller = desktop.controller
        wait_for(lambda: controller.state == "running" and len(controller.snapshot.models) == 5)
        client = anthropic.Anthropic(base_url=controller.url, api_key="unused", max_retries=0)
        lmstudio.script(
            Text(
                "Here is the refactored function.",
                chunks=8,
                delay=0.15,
                usage=Usage(18240, 412, 17920),
            ),
            Text("Fix flaky test", delay=0.05, usage=Usage(230, 6)),
            Text("The tests pass now.", chunks=4, delay=0.1, usage=Usage(19012, 88, 18240)),
        )
        with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=512,
            messages=[{"role": "user", "content": "Refactor parse_args into smaller pieces"}],
        ) as stream:
            stream.get_final_text()
        client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=32,
            messages=[{"role": "user", "content": "Write a 3-word title for this chat"}],
        )
        with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=512,
            messages=[{"role": "user", "content": "Run the tests again"}],
        ) as stream:
            stream.get_final_text()
        try:
            client.messages.create(
                model="gpt-4o", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
        except anthropic.NotFoundError:
            pass
        client.close()
        wait_for(lambda: desktop.log.rowCount() == 4)
        desktop.history.flush()  # the Usage page reads the history
        store = desktop.history.store
        wait_for(lambda: store is not None and store.count() == 4)

        window = desktop.window
        # The size the issue measures (#13): every Requests column shows at 1280 × 800.
        window.resize(1240, 760)
        window.show_and_raise()
        out.mkdir(parents=True, exist_ok=True)
        for page in window.pages:
            window.show_section(page.title)  # type: ignore[attr-defined]
            if page is window.requests:
                window.requests.select(1)
            spin(300)
            name = page.title.lower()  # type: ignore[attr-defined]
            window.grab().save(str(out / f"{name}{suffix}.png"))
        desktop.shutdown()
    finally:
        lmstudio.stop()
        ollama.stop()
    app.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:4])
