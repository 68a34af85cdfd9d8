"""Models → Routes: the routes beyond big/small/opus (long context, images, thinking, subagents,
background) and the big model's fallbacks. Each route is on or off, with its targets in order
(the later ones the fallbacks of the first); a change applies to the next request and is saved."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from app.controller import GatewayController
from gateway.config import EFFORTS, ROUTE_NAMES

__all__ = ["LABELS", "RoutesBox"]

LABELS: dict[str, tuple[str, str]] = {
    "long_context": (
        "Long prompts",
        "prompts longer than the threshold, to a model whose loaded context window holds them",
    ),
    "images": ("Images", "requests with images, to a vision model"),
    "thinking": (
        "Thinking",
        "requests at a high effort (ultrathink, /effort) or with a thinking budget",
    ),
    "subagent": ("Subagents", "Claude Code's subagents (Explore, Plan, your own agents)"),
    "background": ("Background", "titles, summaries and other haiku-class side requests"),
}
_TARGETS_TIP = (
    "Targets in order, separated by commas: a role (big, small, opus), a model the backends "
    "list, or BACKEND:MODEL. The later ones answer when the first fails before answering."
)


class RoutesBox(QGroupBox):
    def __init__(self, controller: GatewayController, parent: QWidget | None = None) -> None:
        super().__init__("Routes", parent)
        self.controller = controller
        grid = QGridLayout(self)
        self.enabled: dict[str, QCheckBox] = {}
        self.targets: dict[str, QLineEdit] = {}
        for row, name in enumerate(ROUTE_NAMES):
            label, tip = LABELS[name]
            check = QCheckBox(label)
            check.setObjectName(f"route-{name}")
            check.setToolTip(tip)
            edit = QLineEdit()
            edit.setObjectName(f"route-{name}-targets")
            edit.setAccessibleName(f"{label} route targets")
            edit.setPlaceholderText("model, BACKEND:MODEL or a role; later ones are fallbacks")
            edit.setToolTip(_TARGETS_TIP)
            self.enabled[name], self.targets[name] = check, edit
            grid.addWidget(check, row, 0)
            grid.addWidget(edit, row, 1)
            check.toggled.connect(lambda on, name=name: self._toggled(name, on))
            edit.editingFinished.connect(lambda name=name: self._edited(name))
        self.threshold = QSpinBox()
        self.threshold.setObjectName("route-long_context-threshold")
        self.threshold.setAccessibleName("Long prompt threshold in tokens")
        self.threshold.setRange(1000, 10_000_000)
        self.threshold.setSingleStep(10_000)
        self.threshold.setSuffix(" tokens")
        self.effort = QComboBox()
        self.effort.setObjectName("route-thinking-effort")
        self.effort.setAccessibleName("Least effort for the thinking route")
        for effort in EFFORTS:
            self.effort.addItem(f"effort ≥ {effort}", effort)
        grid.addWidget(self.threshold, ROUTE_NAMES.index("long_context"), 2)
        grid.addWidget(self.effort, ROUTE_NAMES.index("thinking"), 2)
        row = len(ROUTE_NAMES)
        grid.addWidget(QLabel("Big falls back to"), row, 0)
        self.big_fallbacks = QLineEdit()
        self.big_fallbacks.setObjectName("route-big-fallbacks")
        self.big_fallbacks.setAccessibleName("Big model fallbacks")
        self.big_fallbacks.setPlaceholderText("none: the big model's backend alone")
        self.big_fallbacks.setToolTip(_TARGETS_TIP)
        grid.addWidget(self.big_fallbacks, row, 1)
        grid.setColumnStretch(1, 1)
        self.threshold.editingFinished.connect(lambda: self._edited("long_context"))
        self.effort.currentIndexChanged.connect(lambda _: self._edited("thinking"))
        self.big_fallbacks.editingFinished.connect(self._fallbacks_edited)
        controller.config_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: object) -> None:
        routes = self.controller.config.routes
        widgets: list[QWidget] = [*self.enabled.values(), *self.targets.values()]
        widgets += [self.threshold, self.effort, self.big_fallbacks]
        for widget in widgets:
            widget.blockSignals(True)
        for name in ROUTE_NAMES:
            route = getattr(routes, name)
            self.enabled[name].setChecked(route is not None)
            edit = self.targets[name]
            if route is not None and not edit.hasFocus():
                edit.setText(", ".join(route.targets))
            edit.setEnabled(route is not None)
        long_context, thinking = routes.long_context, routes.thinking
        self.threshold.setValue(long_context.threshold if long_context else 60_000)
        self.threshold.setEnabled(long_context is not None)
        self.effort.setCurrentIndex(EFFORTS.index(thinking.min_effort if thinking else "xhigh"))
        self.effort.setEnabled(thinking is not None)
        if not self.big_fallbacks.hasFocus():
            self.big_fallbacks.setText(", ".join(routes.fallbacks.get("big", [])))
        for widget in widgets:
            widget.blockSignals(False)

    def _toggled(self, name: str, on: bool) -> None:
        edit = self.targets[name]
        edit.setEnabled(on)
        if not on:
            self._save(name, None)
            return
        targets = _split(edit.text()) or ["small" if name == "background" else "big"]
        edit.setText(", ".join(targets))
        self._edited(name)

    def _edited(self, name: str) -> None:
        if not self.enabled[name].isChecked():
            return
        targets = _split(self.targets[name].text())
        if not targets:
            return  # an emptied field keeps the route as it was until targets are typed
        route: dict[str, Any] = {"targets": targets}
        if name == "long_context":
            route["threshold"] = self.threshold.value()
        if name == "thinking":
            route["min_effort"] = self.effort.currentData()
        self._save(name, route)

    def _fallbacks_edited(self) -> None:
        routes = self.controller.config.routes.model_dump()
        targets = _split(self.big_fallbacks.text())
        fallbacks = {k: v for k, v in routes["fallbacks"].items() if k != "big"}
        if targets:
            fallbacks["big"] = targets
        if fallbacks != routes["fallbacks"]:
            self.controller.update(routes={**routes, "fallbacks": fallbacks})

    def _save(self, name: str, route: dict[str, Any] | None) -> None:
        routes = self.controller.config.routes.model_dump()
        if routes.get(name) != route:
            self.controller.update(routes={**routes, name: route})


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
