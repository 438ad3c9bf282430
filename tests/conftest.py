import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# The ICD-10-CM index is built once, by `make setup` (`casenotes prepare`, into the folder the Makefile
# names, this one), and shared by every test and later runs; without it the first coding test builds it.
os.environ.setdefault("CASENOTES_CACHE", str(ROOT / ".cache"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Each test gets its own secret and settings folder."""
    home = tmp_path / "casenotes-home"
    monkeypatch.setenv("CASENOTES_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def engine():
    from casenotes.phi.engine import PhiEngine

    e = PhiEngine()
    e.load()
    return e


@pytest.fixture
def qt_settings(tmp_path, qapp):
    """QSettings of this test only, in an INI file under tmp_path."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "qsettings"))
    qapp.setOrganizationName("casenotes-tests")
    qapp.setApplicationName("casenotes-tests")
    return tmp_path / "qsettings"


@pytest.fixture(autouse=True)
def no_qthread_left_running(request):
    """Fail any test that leaves a QThread running (napari's guard)."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    import shiboken6
    from PySide6.QtCore import QThread

    started = []
    original = QThread.start

    def tracking_start(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    QThread.start = tracking_start
    try:
        yield
    finally:
        QThread.start = original
    running = [t for t in started if shiboken6.isValid(t) and t.isRunning()]
    for thread in running:
        thread.wait(20000)  # do not leave it to crash the next test
    assert not running, f"{len(running)} QThread(s) left running"
