"""The Train coder dialog, driven through its widgets offscreen (pytest-qt)."""

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel

from tests.test_training import _coded_csv

TRAIN_TIMEOUT_MS = 600_000


@pytest.fixture
def dialog(qtbot):
    from casenotes_desktop.train_dialog import TrainDialog

    d = TrainDialog("cpu")
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    yield d
    d.close()


def _with_columns(qtbot, dialog, path):
    dialog.add_files([path])
    qtbot.waitUntil(lambda: dialog.text_column.count() > 0 and dialog._reading is None, timeout=30_000)


def test_form_labels_show_their_mnemonic_and_focus_their_field(qtbot, dialog):
    labels = [dialog.form.itemAt(row, QFormLayout.LabelRole).widget() for row in range(dialog.form.rowCount())]
    assert labels and all(isinstance(label, QLabel) for label in labels)
    for label in labels:
        # A QLabel shows '&' as an underlined Alt key only when it has a buddy; without one it is literal.
        assert "&" not in label.text() or label.buddy() is not None, label.text()
    save = dialog.labels["Save model to"]
    assert save.buddy() is dialog.output and save.text().replace("&", "") == "Save model to:"
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5_000)
    dialog.files.setFocus()
    qtbot.keyClick(dialog, Qt.Key_S, Qt.AltModifier)
    qtbot.waitUntil(lambda: dialog.focusWidget() is dialog.output, timeout=5_000)


def test_train_says_what_is_missing_and_starts_nothing(qtbot, dialog, tmp_path):
    assert "Add coded spreadsheets" in dialog.status.text()
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    assert dialog.worker is None and "Add coded spreadsheets" in dialog.status.text()
    assert dialog.focusWidget() is dialog.add_button

    before = dialog.status.text()
    _with_columns(qtbot, dialog, _coded_csv(tmp_path / "coded.csv", 10))
    assert dialog.status.text() != before and "Add coded spreadsheets" not in dialog.status.text()
    assert "output folder" in dialog.status.text()  # columns were found: the output folder is next

    dialog.files.setFocus()
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    assert dialog.worker is None and not dialog.workers.busy
    assert "output folder" in dialog.status.text() and "Save model to" in dialog.status.text()
    assert dialog.focusWidget() is dialog.output
    assert "output folder" in dialog.train_button.toolTip()

    dialog.codes_column.setCurrentIndex(-1)
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    assert dialog.worker is None and "codes column" in dialog.status.text()
    assert dialog.focusWidget() is dialog.codes_column
    dialog.codes_column.setCurrentIndex(dialog.codes_column.findData("codes"))

    dialog.output.setText("coder")
    assert "full path" in dialog.status.text()
    full = tmp_path / "used"
    full.mkdir()
    (full / "something.txt").write_text("x", encoding="utf-8")
    dialog.output.setText(str(full))
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    assert dialog.worker is None and "'used' is not empty" in dialog.status.text()
    dialog.output.setText(str(tmp_path / "coder"))
    assert dialog.status.text().startswith("Ready")
    assert not (tmp_path / "coder").exists()


def test_files_that_cannot_be_used_are_named(qtbot, dialog, tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4")
    dialog.add_files([scan])
    assert dialog.files.count() == 0 and "scan.pdf" in dialog.status.text()
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip at all")
    dialog.add_files([broken])
    qtbot.waitUntil(lambda: dialog._reading is None, timeout=30_000)
    assert dialog.files.count() == 0 and "broken.xlsx" in dialog.status.text()
    assert "Add coded spreadsheets" in dialog.status.text()


@pytest.mark.slow
def test_a_short_training_reports_its_map_beside_the_default_coder(qtbot, dialog, tmp_path):
    _with_columns(qtbot, dialog, _coded_csv(tmp_path / "coded.csv", 20))
    assert dialog.text_column.currentData() == "note" and dialog.codes_column.currentData() == "codes"
    assert not dialog.epochs.isEnabled()  # epochs are the classifier's, which is off unless asked for
    dialog.with_classifier.setChecked(True)
    dialog.output.setText(str(tmp_path / "coder"))
    assert dialog.epochs.isEnabled() and "then a classifier for up to 10 epochs" in dialog.status.text()
    dialog.epochs.setValue(1)
    assert "then a classifier for 1 epoch)" in dialog.status.text()
    statuses = []
    shown = dialog.status.setText
    dialog.status.setText = lambda text: statuses.append(text) or shown(text)
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    assert dialog.worker is not None and not dialog.train_button.isEnabled() and not dialog.output.isEnabled()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=TRAIN_TIMEOUT_MS)
    status = dialog.status.text()
    assert status.startswith("Done"), (status, dialog.log.toPlainText())
    both = re.compile(r"held-out MAP \d\.\d\d \(default coder \d\.\d\d(, x\d+\.\d)?\)")
    assert both.search(status) and both.search(dialog.log.toPlainText())
    assert "Default coder on the" in dialog.log.toPlainText() and "Trained coder on the same" in dialog.log.toPlainText()
    for stage in ("Reading the coded spreadsheets", "De-identifying", "Scoring the default coder", "Reading the notes",
                  "Learning the phrases", "Training: epoch 1 of 1, batch 1 of", "Saving the model"):
        assert any(s.startswith(stage) for s in statuses), (stage, statuses)
    assert "Okafor" not in dialog.log.toPlainText() + status
    assert (tmp_path / "coder" / "config.json").exists() and (tmp_path / "coder" / "ranker.json").exists()
    assert dialog.use_button.isEnabled() and "classifier best epoch 1 of 1" in status
    card = (tmp_path / "coder" / "README.md").read_text(encoding="utf-8")
    assert "default coder" in card
    dialog.output.setText(str(tmp_path / "coder2"))  # an input changed: the status says what comes next again
    assert dialog.status.text().startswith("Ready") and dialog.progress.value() == 0
    assert not dialog.use_button.isEnabled()  # "Use as coder" is for the folder just saved, not another


@pytest.mark.slow
def test_a_cancelled_or_failed_training_says_so(qtbot, dialog, tmp_path):
    """Training runs in a child process: a real failure and a real cancel come back as the status."""
    import csv

    bad = tmp_path / "uncoded.csv"
    with bad.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["patient", "note", "codes"])
        for i in range(8):
            out.writerow([f"P{i}", f"Follow-up visit {i}, patient well, no complaints today.", "XYZ"])
    _with_columns(qtbot, dialog, bad)
    dialog.output.setText(str(tmp_path / "coder"))
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=TRAIN_TIMEOUT_MS)
    assert dialog.status.text().startswith("Training failed: "), dialog.status.text()
    assert not (tmp_path / "coder" / "coder.json").exists()

    dialog.files.clear()
    _with_columns(qtbot, dialog, _coded_csv(tmp_path / "coded.csv", 20))
    dialog.epochs.setValue(5)
    dialog.output.setText(str(tmp_path / "coder2"))
    qtbot.mouseClick(dialog.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith(("De-identifying", "Scoring", "Training")),
                    timeout=TRAIN_TIMEOUT_MS)
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=TRAIN_TIMEOUT_MS)
    assert dialog.status.text() == "Cancelled: nothing was saved.", dialog.status.text()
    assert not (tmp_path / "coder2" / "config.json").exists()