import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# The ICD-10-CM index is built once (about 2 minutes) and shared by every test and later runs.
os.environ.setdefault("CASENOTES_CACHE", str(ROOT / ".cache"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Each test gets its own secret and settings folder."""
    home = tmp_path / "casenotes-home"
    monkeypatch.setenv("CASENOTES_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def engine():
    from core.phi.engine import PhiEngine

    e = PhiEngine()
    e.load()
    return e
