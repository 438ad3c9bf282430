"""Start the window: ``casenotes-desktop`` (or ``casenotes gui``). It shows at once; models load later."""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> int:
    from casenotes import hf

    hf.offline()  # before any model library can be imported, here or in the window's child processes

    logging.basicConfig(level=logging.WARNING, format="casenotes: %(levelname)s: %(message)s")
    from PySide6.QtWidgets import QApplication

    from casenotes_desktop.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv if argv is None else ["casenotes", *argv])
    app.setOrganizationName("casenotes")
    app.setApplicationName("casenotes")
    window = MainWindow()
    window.show()
    args = sys.argv[1:] if argv is None else argv
    if args:
        from pathlib import Path

        window.add_paths([Path(a) for a in args])
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
