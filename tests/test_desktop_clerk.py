"""A clerk's day in the window without dead ends (issue 12): other workbook shapes, restarts,
finished files, keyboard, labels that tell the truth. Driven through the real widgets offscreen."""

from pathlib import Path

import openpyxl
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QStyle

from tests.test_desktop import PREVIEW_TIMEOUT_MS, RUN_TIMEOUT_MS, _drop, _notes_csv, _wait_ready

pytestmark = pytest.mark.slow


def _new_window(qtbot):
    from casenotes_desktop.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def out_dir(qt_settings, tmp_path):
    from casenotes_desktop.settings import AppSettings

    AppSettings(output_dir=str(tmp_path / "out")).save()
    return tmp_path / "out"


def _cover_then_notes(path: Path) -> Path:
    wb = openpyxl.Workbook()
    cover = wb.active
    cover.title = "Cover"
    cover.append(["Clinic export"])
    cover.append(["Exported from the ward system for the quarterly audit; the notes are on the next sheet."])
    notes = wb.create_sheet("Notes")
    notes.append(["MRN", "Note"])
    for i in range(12):
        notes.append([f"{100200 + i}", f"Row {i + 1}: seen by Dr. Okafor today, stable, plan to continue heparin."])
    wb.save(path)
    return path


def _answer(monkeypatch, *answers):
    """QMessageBox.question answers in order; returns the list of questions asked."""
    asked, queue = [], list(answers)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or queue.pop(0))
    return asked


def test_the_notes_sheet_is_found_and_a_failed_file_can_pick_another_sheet(qtbot, out_dir, tmp_path):
    from casenotes_desktop.settings import save_queue

    path = _cover_then_notes(tmp_path / "export.xlsx")
    # Restored from a session where the clerk had picked a sheet that is gone now.
    save_queue([{"path": str(path), "sheet": "Old export"}])
    w = _new_window(qtbot)
    _wait_ready(qtbot, w, 1)
    item = w.model.items[0]
    assert item.status == "failed" and "no sheet named 'Old export'" in item.error
    qtbot.waitUntil(lambda: item.sheets == ["Cover", "Notes"], timeout=30_000)
    sheet_cell = w.model.index(0, w.model.SHEET)
    assert w.model.flags(sheet_cell) & Qt.ItemIsEditable  # failed, yet the sheet can be chosen
    assert not w.model.data(w.model.index(0, w.model.STATUS)).startswith("failed: export.xlsx")  # name not twice
    w.model.setData(sheet_cell, "Notes", Qt.EditRole)
    qtbot.waitUntil(lambda: item.status == "ready", timeout=30_000)
    assert item.rows == 12 and item.summary.text_columns == ["Note"]
    # A file dropped fresh: the notes sheet is detected although the cover comes first.
    other = _cover_then_notes(tmp_path / "second.xlsx")
    _drop(w, [other])
    _wait_ready(qtbot, w, 2)
    assert w.model.items[1].sheet == "Notes" and w.model.items[1].rows == 12
    w.close()


def test_an_interrupted_run_is_resumed_after_a_restart(qtbot, out_dir, tmp_path, monkeypatch):
    path = _notes_csv(tmp_path / "long.csv", 320)
    first = _new_window(qtbot)
    first.add_paths([path])
    _wait_ready(qtbot, first, 1)
    first.start_run()
    qtbot.waitUntil(lambda: first.model.items[0].rows_done > 0, timeout=RUN_TIMEOUT_MS)
    _answer(monkeypatch, QMessageBox.Yes)
    assert first.close()  # closing during a run: asked, cancelled, the checkpoint stays

    second = _new_window(qtbot)
    _wait_ready(qtbot, second, 1)
    item = second.model.items[0]
    assert item.path == path and item.status == "interrupted" and 0 < item.rows_done < 320
    status = second.model.data(second.model.index(0, second.model.STATUS))
    assert status.startswith("interrupted:") and "of 320 rows done" in status
    assert second.resume_action.isEnabled() and not second.run_action.isEnabled()
    second.resume_action.trigger()
    qtbot.waitUntil(lambda: item.status == "done" and second.run_worker is None, timeout=RUN_TIMEOUT_MS)
    rows = list(openpyxl.load_workbook(item.output)["Results"].iter_rows(min_row=2, values_only=True))
    notes = [next(v for v in r if isinstance(v, str) and v.startswith("Row ")) for r in rows]
    assert [int(n.split(":")[0][4:]) for n in notes] == list(range(1, 321))  # nothing lost, nothing repeated
    second.close()


def _window_outputs(path: Path) -> dict[str, Path]:
    """Where the window's run writes ``path``'s outputs (its saved settings, neutral names by default)."""
    from casenotes.pipeline import output_paths
    from casenotes_desktop.settings import AppSettings

    return output_paths(path, AppSettings.load().run_options())


def test_a_finished_file_shows_its_result_and_can_be_run_again(qtbot, out_dir, tmp_path, monkeypatch):
    path = _notes_csv(tmp_path / "ward.csv", 4)
    first = _new_window(qtbot)
    first.add_paths([path])
    _wait_ready(qtbot, first, 1)
    first.table.selectRow(0)
    first.start_run()
    item = first.model.items[0]
    qtbot.waitUntil(lambda: item.status == "done" and first.run_worker is None, timeout=RUN_TIMEOUT_MS)
    # The verdict and the counts, never note text; the result can be opened from there.
    verdict = item.result.verdict()
    assert verdict.startswith(("safe to share:", "check before sharing:"))
    assert first.result_box.isVisible() and verdict.split(";")[0] in first.result_box.text()
    assert "4 rows" in first.result_box.text() and "Okafor" not in first.result_box.text()
    assert "Open workbook" in first.result_box.text() and first.open_action.isEnabled()
    first.close()

    second = _new_window(qtbot)
    _wait_ready(qtbot, second, 1)
    item = second.model.items[0]
    # Named neutrally by default: a file name can be PHI.
    workbook = _window_outputs(path)["workbook"]
    assert workbook.parent == out_dir and "ward" not in workbook.name
    assert item.status == "done" and item.output == workbook
    assert second.model.data(second.model.index(0, second.model.OUTPUT)) == workbook.name
    assert not second.run_action.isEnabled() and second.open_action.isEnabled()
    second.table.selectRow(0)
    asked = _answer(monkeypatch, QMessageBox.No, QMessageBox.Yes)
    second.run_again()  # "No": nothing happens
    assert asked and second.run_worker is None
    second.run_again()
    qtbot.waitUntil(lambda: item.status == "done" and item.result is not None and second.run_worker is None,
                    timeout=RUN_TIMEOUT_MS)
    assert item.result.rows == 4
    second.close()


def test_labels_count_failures_and_open_says_where_the_file_is(qtbot, out_dir, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    w = _new_window(qtbot)
    good, gone = _notes_csv(tmp_path / "good.csv", 3), _notes_csv(tmp_path / "gone.csv", 3)
    w.add_paths([good, gone])
    _wait_ready(qtbot, w, 2)
    gone.unlink()  # moved away between adding and running
    w.start_run()
    qtbot.waitUntil(lambda: w.run_worker is None and all(i.status in ("done", "failed") for i in w.model.items),
                    timeout=RUN_TIMEOUT_MS)
    message = w.statusBar().currentMessage()
    assert "1 done" in message and "1 failed" in message, message
    assert "left" not in w.overall_label.text()
    # No program to open the workbook with: the clerk is told, with the path.
    shown = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()) or 0)
    w.table.selectRow(0)
    w.open_output()
    assert shown and str(_window_outputs(good)["workbook"]) in shown[0]
    w.close()


@pytest.mark.parametrize("mode", ["tags", "surrogates"])
def test_the_preview_is_what_the_run_writes(qtbot, out_dir, tmp_path, mode):
    path = tmp_path / "visits.csv"
    path.write_text("MRN,Note\n100234,Seen 03/14/2024 by Dr. Okafor; daughter Odalys Brenkowitz called (617) 555-0199.\n",
                    encoding="utf-8")
    w = _new_window(qtbot)
    w.settings_panel.mode.setCurrentIndex(w.settings_panel.mode.findData(mode))
    w.add_paths([path])
    _wait_ready(qtbot, w, 1)
    w.table.selectRow(0)
    qtbot.waitUntil(lambda: bool(w.preview.rows) and "Brenkowitz" not in w.preview.rows[0].deidentified, timeout=PREVIEW_TIMEOUT_MS)
    previewed = w.preview.rows[0].deidentified
    w.start_run()
    item = w.model.items[0]
    qtbot.waitUntil(lambda: item.status == "done" and w.run_worker is None, timeout=RUN_TIMEOUT_MS)
    sheet = openpyxl.load_workbook(item.output)["Results"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    written = [r for r in sheet.iter_rows(min_row=2, values_only=True)][0]
    note = str(written[[i for i, h in enumerate(header) if h and "note" in str(h).lower()][0]])
    assert note and note in previewed  # the same surrogates and shifted dates
    w.close()


def test_keyboard_tab_leaves_the_queue_and_the_window_fits_the_screen(qtbot, out_dir, tmp_path):
    w = _new_window(qtbot)
    qtbot.waitExposed(w)
    w.add_paths([_notes_csv(tmp_path / "a.csv", 2)])
    _wait_ready(qtbot, w, 1)
    w.activateWindow()
    w.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is w.table)
    qtbot.keyClick(w.table, Qt.Key_Tab)
    assert QApplication.focusWidget() is not w.table
    # A size saved at another scale is clamped to the screen.
    w.resize(6000, 5000)
    w._fit_to_screen()
    available = w.screen().availableGeometry()
    assert w.frameGeometry().width() <= available.width() and w.frameGeometry().height() <= available.height()
    w.close()


def test_progress_bars_are_horizontal_and_the_empty_queue_says_what_to_do(qtbot, out_dir, monkeypatch):
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

    from casenotes_desktop.delegates import ProgressDelegate
    from casenotes_desktop.help import GuideDialog, about_text
    from casenotes_desktop.queue_view import EMPTY_HINT

    w = _new_window(qtbot)
    drawn = []
    style = w.table.style()
    monkeypatch.setattr(type(style), "drawControl", lambda self, element, option, *a: drawn.append(option.state))
    option = QStyleOptionViewItem()
    option.rect = w.table.rect().adjusted(0, 0, -w.table.width() + 90, -w.table.height() + 24)
    option.widget = w.table
    image = QImage(100, 30, QImage.Format_ARGB32)
    painter = QPainter(image)
    w.model.add(Path("x.csv"))
    ProgressDelegate(w.table).paint(painter, option, w.model.index(0, w.model.PROGRESS))
    painter.end()
    assert drawn and drawn[0] & QStyle.State_Horizontal
    w.model.remove_rows([0])
    assert "Drop spreadsheets" in EMPTY_HINT and w.model.rowCount() == 0
    # Help opens offline and About names the models
    assert "Resume" in GuideDialog(w).text.toPlainText()
    assert "ICD-10-CM" in about_text() and "en_core_web_sm" in about_text()
    w.close()
