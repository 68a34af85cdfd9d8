"""The tray icon: its look tells the gateway's state, its tooltip the URL and the mapping, and
its menu (rebuilt each time it opens) starts, stops, switches models and copies the export line.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.controller import HEALTH_TEXT, GatewayController
from app.icons import tray_icon
from app.model_advice import context_label, model_details, routed
from app.model_loading import ModelLoader
from app.profiles import active_profile, switch_profile
from gateway.envline import default_shell

__all__ = ["Tray"]


class Tray(QObject):
    def __init__(
        self,
        controller: GatewayController,
        *,
        open_window: Callable[[], None],
        quit_app: Callable[[], None],
        loader: ModelLoader | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.loader = loader or ModelLoader(controller, self)
        self._open_window = open_window
        self._quit_app = quit_app
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        self.menu.aboutToShow.connect(self.rebuild)
        self.icon = QSystemTrayIcon(self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.health = ""
        for signal in (
            controller.state_changed,
            controller.config_changed,
            controller.catalogue_changed,
        ):
            signal.connect(self.update)
        self.update()
        self.rebuild()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def update(self, *_: object) -> None:
        """Icon and tooltip for the current state; cheap, so called on every change."""
        health = self.controller.health()
        if health != self.health:
            self.health = health
            self.icon.setIcon(tray_icon(health))
        self.icon.setToolTip(self.tooltip())

    def tooltip(self) -> str:
        c = self.controller
        lines = [f"LM Gate: {_health(c)}", c.url]
        for role, label in (("big", "Sonnet"), ("small", "Haiku")):
            route = routed(role, c.config, c.snapshot)
            if route is not None:
                lines.append(f"{label} → {route.model} ({route.backend_id})")
        note = c.keyring_note()
        if note and c.state == "running":
            lines.append(note)  # said, but the colour stays what serving Claude Code is
        return "\n".join(lines)

    def rebuild(self) -> None:
        c = self.controller
        menu = self.menu
        menu.clear()
        # clear() drops the actions, not the submenus made by addMenu: without this each opening
        # would leave its submenus behind, and the tray's memory would grow.
        for sub in menu.findChildren(QMenu):
            sub.setParent(None)
            sub.deleteLater()
        status = menu.addAction(f"LM Gate {_health(c)} · {c.url}")
        status.setEnabled(False)
        for line in (c.error, c.keyring_note() if c.state == "running" else None):
            if line:
                problem = menu.addAction(line)
                problem.setEnabled(False)
        menu.addSeparator()
        if c.state == "running":
            menu.addAction("Stop the gateway", c.stop)
        else:
            start = menu.addAction("Start the gateway", c.start)
            start.setEnabled(c.state in ("stopped", "failed"))
        self._model_menu(menu, "big", "Big model (Sonnet)")
        self._model_menu(menu, "small", "Small model (Haiku)")
        self._loading_menu(menu)
        self._profile_menu(menu)
        menu.addSeparator()
        menu.addAction("Copy export line", self.copy_export)
        menu.addAction("Open LM Gate", lambda: self._open_window())
        menu.addSeparator()
        menu.addAction("Quit LM Gate", lambda: self._quit_app())

    def _model_menu(self, menu: QMenu, role: str, title: str) -> None:
        c = self.controller
        sub = menu.addMenu(title)
        sub.setObjectName(f"{role}Menu")
        group = QActionGroup(sub)
        group.setExclusive(True)
        chosen = getattr(c.config, role)
        route = routed(role, c.config, c.snapshot)
        models = [m for m in c.snapshot.models if m.kind != "embedding"]
        # Loaded models only, so that a switch costs no load; all of them when none says.
        loaded = [m for m in models if m.loaded is True] or [m for m in models if m.loaded is None]
        for model in loaded:
            target = f"{model.backend_id}:{model.name}"
            details = model_details(model)
            action = QAction(f"{model.name} ({model.backend_id})", sub)
            action.setToolTip(details)
            action.setCheckable(True)
            action.setChecked(
                chosen in (target, model.name)
                or (
                    chosen is None
                    and route is not None
                    and (route.backend_id, route.model) == (model.backend_id, model.name)
                )
            )
            action.triggered.connect(lambda _=False, t=target: c.set_model(role, t))
            group.addAction(action)
            sub.addAction(action)
        if not loaded:
            empty = sub.addAction("No model is loaded")
            empty.setEnabled(False)
        sub.setEnabled(c.state == "running" or bool(loaded))

    def _loading_menu(self, menu: QMenu) -> None:
        """ "Load a model" with what is not in memory, "Unload a model" with what is, on the
        backends LM Gate can load on; each with its context length or the job running."""
        c = self.controller
        loadable = [
            m
            for m in c.snapshot.models
            if m.kind != "embedding"
            and self.loader.why_not(f"{m.backend_id}:{m.name}") in (None, "busy")
        ]
        load = menu.addMenu("Load a model")
        load.setObjectName("loadMenu")
        unload = menu.addMenu("Unload a model")
        unload.setObjectName("unloadMenu")
        for model in loadable:
            target = f"{model.backend_id}:{model.name}"
            job = self.loader.jobs.get(target)
            label = f"{model.name} ({model.backend_id})"
            if job is not None:
                busy = (load if job.action == "load" else unload).addAction(job.text())
                busy.setEnabled(False)
                continue
            if model.loaded is False:
                chosen = self.loader.context_for(target)
                window = context_label(chosen).removesuffix(" context") if chosen else "default"
                action = load.addAction(f"{label} · {window} context")
                action.triggered.connect(lambda _=False, t=target: self.loader.load(t))
            else:
                action = unload.addAction(label)
                action.triggered.connect(lambda _=False, t=target: self.loader.unload(t))
        for sub, empty in ((load, "Nothing to load"), (unload, "Nothing loaded")):
            if sub.isEmpty():
                none = sub.addAction(empty)
                none.setEnabled(False)

    def _profile_menu(self, menu: QMenu) -> None:
        profiles = self.controller.config.profiles
        if not profiles:
            return
        sub = menu.addMenu("Profile")
        sub.setObjectName("profileMenu")
        group = QActionGroup(sub)
        group.setExclusive(True)
        active = active_profile(self.controller.config)
        for name in sorted(profiles):
            action = QAction(name, sub)
            action.setCheckable(True)
            action.setChecked(name == active)
            action.triggered.connect(lambda _=False, n=name: switch_profile(self.controller, n))
            group.addAction(action)
            sub.addAction(action)

    def notify(self, title: str, text: str) -> bool:
        """A tray message; False where the tray cannot show one."""
        if not (self.icon.isVisible() and QSystemTrayIcon.supportsMessages()):
            return False
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 8000)
        return True

    def copy_export(self) -> None:
        QGuiApplication.clipboard().setText(
            self.controller.export_line(default_shell(), reveal=True)
        )
        if self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(
                "LM Gate",
                "Export line copied: paste it into your shell, then run claude",
                msecs=3000,
            )

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self._open_window()


def _health(controller: GatewayController) -> str:
    """ "running", "stopped"…: the window's words, in the middle of a line."""
    return HEALTH_TEXT.get(controller.health(), controller.state).lower()
