"""Start-up time of the desktop app as built: `python packaging/measure_start.py [EXECUTABLE]`
(default dist/lmgate/lmgate). Linux only; needs Xvfb and xdotool for the X11 figures.

Each run starts the app with a fresh config (a free port, no backends to probe, no session bus)
and times two things from the exec: the first window on screen (X11: xdotool sees it mapped)
and the gateway's first answer on /health. Offscreen there is no screen to watch, so its figure
is the /health one: the window is shown while the server starts on its worker thread, and under
X11 the two land within a few hundred milliseconds of each other, the window usually first. One
unmeasured run first warms the disk cache; the load average is printed with the figures because
the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["Run", "Xvfb", "main", "measure", "one_run"]

ROOT = Path(__file__).resolve().parent.parent
WINDOW_TITLE = "^LM Gate$"
_DEADLINE = 30.0


class Run:
    def __init__(self, window: float | None, health: float, exit_code: int) -> None:
        self.window = window
        self.health = health
        self.exit_code = exit_code


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _health(port: int) -> bool:
    request = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(request)
            return sock.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _window_shown(env: dict[str, str]) -> bool:
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", WINDOW_TITLE],
        env=env,
        capture_output=True,
        timeout=10,
    )
    return found.returncode == 0 and bool(found.stdout.strip())


def one_run(executable: Path, env: dict[str, str], *, watch_window: bool) -> Run:
    with tempfile.TemporaryDirectory(prefix="lmgate-start-") as scratch:
        home = Path(scratch)
        port = _free_port()
        config = home / "config" / "lmgate" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f"port = {port}\ndiscover = false\n", encoding="utf-8")
        run_env = {
            **env,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            # No session bus: nothing may autolaunch a dbus-daemon that outlives the run.
            "DBUS_SESSION_BUS_ADDRESS": "disabled:",
        }
        errors = home / "stderr.txt"
        started = time.perf_counter()
        with open(errors, "wb") as stderr:
            app = subprocess.Popen(
                [str(executable)],
                env=run_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        window: float | None = None
        health: float | None = None
        try:
            while health is None or (watch_window and window is None):
                now = time.perf_counter() - started
                if app.poll() is not None:
                    said = errors.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{executable} exited with {app.returncode}:\n{said}")
                if now > _DEADLINE:
                    raise RuntimeError(f"{executable} showed no window or /health in {_DEADLINE} s")
                if watch_window and window is None and _window_shown(run_env):
                    window = time.perf_counter() - started
                if health is None and _health(port):
                    health = time.perf_counter() - started
                time.sleep(0.005)
        finally:
            app.send_signal(signal.SIGTERM)
            try:
                code = app.wait(15)
            except subprocess.TimeoutExpired:
                app.kill()
                code = app.wait()
        return Run(window, health, code)


def measure(
    executable: Path, env: dict[str, str], *, runs: int, watch_window: bool
) -> dict[str, object]:
    """One warm-up run, then `runs` measured ones: medians, every figure, and the load."""
    one_run(executable, env, watch_window=watch_window)
    load_before = os.getloadavg()[0]
    done = [one_run(executable, env, watch_window=watch_window) for _ in range(runs)]
    load_after = os.getloadavg()[0]
    windows = [r.window for r in done if r.window is not None]
    return {
        "runs": runs,
        "window_median_s": round(statistics.median(windows), 3) if windows else None,
        "health_median_s": round(statistics.median(r.health for r in done), 3),
        "window_s": [round(w, 3) for w in windows],
        "health_s": [round(r.health, 3) for r in done],
        "exit_codes": [r.exit_code for r in done],
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "cores": os.cpu_count(),
    }


def _accepts(path: Path, timeout: float = 10.0) -> bool:
    """Whether the X server's socket takes a connection (within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
                return True
            except OSError:
                time.sleep(0.02)
    return False


class Xvfb:
    """A private X server for the X11 runs (display :N picked free by Xvfb itself)."""

    def __enter__(self) -> dict[str, str]:
        self._read, write = os.pipe()
        self.process = subprocess.Popen(
            # -noreset: by default the server resets when its last client leaves, and a client
            # that connects during the reset (the app, right after the readiness probe) fails.
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
            + ["-noreset"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(self._read) as displays:
            display = displays.readline().strip()
        if not display or not _accepts(Path(f"/tmp/.X11-unix/X{display}")):
            self.process.kill()
            self.process.wait(10)
            raise RuntimeError("Xvfb did not start")
        return {**os.environ, "DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb"}

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    default = ROOT / "dist" / "lmgate" / "lmgate"
    parser.add_argument("executable", type=Path, nargs="?", default=default)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    figures: dict[str, object] = {}
    offscreen = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    offscreen.pop("DISPLAY", None)
    figures["offscreen"] = measure(args.executable, offscreen, runs=args.runs, watch_window=False)
    if shutil.which("Xvfb") and shutil.which("xdotool"):
        with Xvfb() as env:
            figures["xvfb"] = measure(args.executable, env, runs=args.runs, watch_window=True)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
