"""Local models added to an installation: checked, recorded with a checksum, listed, seen by the window."""

import zipfile

import pytest

from benchmarks.random_models import build
from casenotes import models
from casenotes.errors import ConfigurationError


@pytest.mark.slow
def test_add_folder_and_zip_list_verify_remove(tmp_path, capsys):
    from casenotes.cli import main

    coder = build(tmp_path / "ward-coder", "tiny-classifier", labels=["I10", "E11.9"])
    summarizer = build(tmp_path / "tiny-summarizer", "tiny-bart")
    archive = tmp_path / "summarizer.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in summarizer.iterdir():
            z.write(f, f"nested/{f.name}")
    assert main(["models", "add", str(coder), "--kind", "coder"]) == 0
    assert main(["models", "add", str(archive), "--kind", "summarizer", "--name", "radiology"]) == 0
    listed = {m.name: m for m in models.installed()}
    assert set(listed) == {"ward-coder", "radiology"} and listed["radiology"].kind == "summarizer"
    assert all(m.verify() and len(m.sha256) == 64 for m in listed.values())
    assert [m.name for m in models.installed("coder")] == ["ward-coder"]
    capsys.readouterr()
    assert main(["models", "list"]) == 0 and "ok" in capsys.readouterr().out
    (tmp_path / "casenotes-home" / "models" / "ward-coder" / "config.json").write_text("{}")
    assert not models.installed("coder")[0].verify()  # a changed file is noticed
    assert main(["models", "remove", "ward-coder"]) == 0 and [m.name for m in models.installed()] == ["radiology"]


def test_models_that_do_not_load_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="config.json"):
        models.add(empty, "coder")
    summarizer = build(tmp_path / "s", "tiny-bart")
    with pytest.raises(ConfigurationError):
        models.add(summarizer, "coder")  # a summarizer is not a classifier with ICD-10-CM labels
    assert models.installed() == []


@pytest.mark.slow
def test_the_window_lists_installed_models(qtbot, qt_settings, tmp_path):
    from casenotes_desktop.main_window import MainWindow

    models.add(build(tmp_path / "ward-coder", "tiny-classifier", labels=["I10"]), "coder")
    w = MainWindow()
    qtbot.addWidget(w)
    field = w.settings_panel.coder
    field._fill_installed()
    names = [a.text() for a in field.installed.menu().actions()]
    assert any(n.startswith("ward-coder") for n in names)
    next(a for a in field.installed.menu().actions() if a.text().startswith("ward-coder")).trigger()
    assert w.settings.coder.endswith("ward-coder")
    w.close()


def test_one_switch_keeps_the_model_libraries_offline_and_importing_core_changes_nothing(tmp_path):
    """``casenotes.hf.offline()`` is the one place the switches are set; the command line calls it first
    thing (its children inherit them); importing ``casenotes`` leaves the environment alone."""
    import subprocess
    import sys
    from pathlib import Path

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "CASENOTES_HOME": str(tmp_path)}
    show = ("print(*[os.environ.get(n, '-') for n in "
            "('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_DISABLE_TELEMETRY')])")

    def run(code: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-800:]
        return out.stdout.splitlines()

    assert run(f"import os, casenotes, casenotes.pipeline\n{show}")[-1].split() == ["-", "-", "-"]
    assert run(f"import os\nfrom casenotes import hf\nhf.offline()\n{show}")[-1].split() == ["1", "1", "1"]
    assert run(f"import os\nfrom casenotes.cli import main\nmain(['models', 'list'])\n{show}")[-1].split() == ["1", "1", "1"]
