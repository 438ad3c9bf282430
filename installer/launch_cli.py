"""Entry point of the bundled `casenotes` command (PyInstaller)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # PHI worker processes are spawned from the bundle itself
    from casenotes.cli import main

    sys.exit(main())
