"""A gateway with a history to write but no request yet, and no Redis, has loaded neither SQLite
nor the redis client: team mode costs an idle gateway no memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.paths import REPO

SCRIPT = """
import sys
from pathlib import Path
from gateway.config import GatewayConfig
from gateway.runner import GatewayServer
from gateway.team.gate import TeamFiles
folder = Path(sys.argv[1])
server = GatewayServer(
    GatewayConfig(port=0, discover=False),
    team_files=TeamFiles(folder / "clients.toml", folder / "history.sqlite3"),
)
server.start()
try:
    print(sorted(m for m in ("sqlite3", "redis", "_sqlite3") if m in sys.modules))
finally:
    server.stop()
"""


def test_an_idle_gateway_has_not_loaded_sqlite_or_redis(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
