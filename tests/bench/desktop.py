"""The desktop app's memory: `python -m app` (GUI and gateway in one process) on Qt's offscreen
platform, its window shown, pointed at the benchmark's fake; RSS after it has idled."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from gateway.config import save_config
from tests.bench.coldstart import health_ok, stop_process
from tests.bench.gateway_proc import bench_config
from tests.bench.processes import pinned, rss_bytes, thread_count
from tests.fakes import free_port

__all__ = ["desktop_env", "measure_desktop", "measure_desktop_browse"]


def desktop_env(scratch: Path, env: dict[str, str]) -> dict[str, str]:
    """A scratch home for the app: its own config, state, data, cache and runtime dirs."""
    env = dict(env)
    for variable, name in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_RUNTIME_DIR", "runtime"),
    ):
        path = scratch / name
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[variable] = str(path)
    env["QT_QPA_PLATFORM"] = "offscreen"
    # `lmgate` with neither variable set runs the gateway headless; offscreen Qt never opens it.
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["DISPLAY"] = ":0"
    return env


def measure_desktop(
    backend_url: str, *, idle: float, cores: frozenset[int], env: dict[str, str], scratch: Path
) -> dict[str, float]:
    """Start the app with a config whose one backend is `backend_url` (no discovery), time it to
    the gateway's first 200, read its RSS after `idle` seconds, and stop it with SIGTERM."""
    env = desktop_env(scratch, env)
    port = free_port()
    config = bench_config(backend_url).model_copy(update={"port": port, "discover": False})
    save_config(config, Path(env["XDG_CONFIG_HOME"]) / "lmgate" / "config.toml")
    log = scratch / "desktop.log"
    started = time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app"],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=env,
            preexec_fn=pinned(cores),
        )
    exit_code: int | None = None
    try:
        deadline = started + 60
        while not health_ok(port):
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the desktop app exited with {proc.returncode}:\n{tail}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the desktop app did not answer /health within 60 s; see {log}")
            time.sleep(0.005)
        start_s = time.perf_counter() - started
        time.sleep(idle)
        rss, threads = rss_bytes(proc.pid), thread_count(proc.pid)
        # The headless fallback would also answer /health: the GUI's libraries must be mapped.
        if "libQt6Widgets" not in Path(f"/proc/{proc.pid}/maps").read_text():
            raise RuntimeError("the desktop app runs without its GUI (no Qt Widgets loaded)")
        exit_code = stop_process(proc)
    finally:
        if exit_code is None:
            stop_process(proc)
    if exit_code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        print(
            f"[bench] the desktop app exited with {exit_code} on SIGTERM:\n{tail}", file=sys.stderr
        )
    return {
        "start_s": start_s,
        "idle_rss_mb": rss / 1e6,
        "threads": threads,
        "clean_exit": float(exit_code == 0),
    }


def measure_desktop_browse(
    backend_url: str, *, cores: frozenset[int], env: dict[str, str], scratch: Path
) -> dict[str, float]:
    """The app used as a user would (tests/bench/desktop_browse.py): first window, RSS with the
    window idle, after browsing every page, and after 1,000 requests."""
    import json

    env = desktop_env(scratch, env)
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.desktop_browse", backend_url],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        preexec_fn=pinned(cores),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the desktop browse run failed:\n{done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
