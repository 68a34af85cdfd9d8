"""One instance per user and config file: a second launch asks the first to show its window,
through a local socket (a named pipe on Windows), and exits."""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app.signals import emit

__all__ = ["SingleInstance", "instance_key"]

_SHOW = b"show\n"


def instance_key(config_path: Path) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (containers)
        user = "user"
    digest = hashlib.sha256(str(config_path.resolve()).encode()).hexdigest()[:12]
    return f"lmgate-{user}-{digest}"


class SingleInstance(QObject):
    """`claim()` makes this process the instance, or tells the running one to show itself."""

    show_requested = Signal()

    def __init__(self, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._server: QLocalServer | None = None

    def claim(self, timeout_ms: int = 1000) -> bool:
        """True: this is the first instance (and now listens). False: another one runs and
        was asked to show its window."""
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        if socket.waitForConnected(timeout_ms):
            socket.write(_SHOW)
            socket.waitForBytesWritten(timeout_ms)
            socket.disconnectFromServer()
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            # A socket file left by a crashed instance (Unix): nobody answered on it above.
            QLocalServer.removeServer(self.key)
            if not server.listen(self.key):
                return True  # cannot guard; better a second window than no app at all
        server.newConnection.connect(self._connection)
        self._server = server
        return True

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(_SHOW.strip()):
            emit(self.show_requested)
