"""The casenotes desktop window (PySide6). It adds no processing: it drives the same core as the CLI."""
