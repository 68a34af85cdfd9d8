"""Settings → Auto mode review: how the gateway answers Claude Code's auto mode (`safeguards`),
and which model reviews what the rules leave undecided."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from app.controller import GatewayController
from gateway.config import ReviewMode
from gateway.routing import ROLES

__all__ = ["MODES", "ReviewBox"]

MODES: tuple[tuple[ReviewMode, str], ...] = (
    ("classifier", "Rules, then a review model"),
    ("rules", "Rules only"),
    ("off", "Off"),
)
_HINTS: dict[str, str] = {
    "classifier": (
        "Claude Code's auto mode asks the gateway whether each action is safe. Clear cases are "
        "decided by rules; the rest go to the review model (a small model is enough)."
    ),
    "rules": (
        "Clear cases are decided by rules with no model call; when they cannot decide, Claude "
        "Code asks you to approve the action."
    ),
    "off": "The gateway does not review: Claude Code asks you to approve the actions it checks.",
}


class ReviewBox(QGroupBox):
    def __init__(self, controller: GatewayController, parent: QWidget | None = None) -> None:
        super().__init__("Auto mode review", parent)
        self.controller = controller
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.mode = QComboBox()
        self.mode.setAccessibleName("Auto mode review")
        for value, label in MODES:
            self.mode.addItem(label, value)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setAccessibleName("Review model")
        self.model.setMinimumContentsLength(24)
        self.model.setToolTip("small, big, opus, a model the backends list, or BACKEND:MODEL")
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        form.addRow("Review", self.mode)
        form.addRow("Review model", self.model)
        form.addRow(self.hint)

        self.mode.currentIndexChanged.connect(self._set_mode)
        self.model.activated.connect(lambda _: self._set_model())
        line = self.model.lineEdit()
        if line is not None:
            line.editingFinished.connect(self._set_model)
        controller.config_changed.connect(self.refresh)
        controller.catalogue_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: object) -> None:
        review = self.controller.config.review
        for widget in (self.mode, self.model):
            widget.blockSignals(True)
        self.mode.setCurrentIndex(max(0, self.mode.findData(review.mode)))
        if not self.model.hasFocus():
            # The default (the small model) first, then the other roles and the models.
            roles = ["small", *(role for role in ROLES if role != "small")]
            names = [*roles, *(m.name for m in self.controller.snapshot.routable())]
            self.model.clear()
            self.model.addItems(list(dict.fromkeys(names)))
            self.model.setCurrentText(review.model)
        self.model.setEnabled(review.mode == "classifier")
        self.hint.setText(_HINTS[review.mode])
        for widget in (self.mode, self.model):
            widget.blockSignals(False)

    def _set_mode(self, index: int) -> None:
        mode = self.mode.itemData(index)
        review = self.controller.config.review
        if mode != review.mode:
            self.controller.update(review={**review.model_dump(), "mode": mode})

    def _set_model(self) -> None:
        model = self.model.currentText().strip()
        review = self.controller.config.review
        if model and model != review.model:
            self.controller.update(review={**review.model_dump(), "model": model})
