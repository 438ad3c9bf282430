"""Entry point of the bundled `casenotes-desktop` window (PyInstaller)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from casenotes_desktop.app import main

    sys.exit(main())
