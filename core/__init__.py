"""casenotes core: reading, de-identifying and annotating clinical case notes. Never imports Qt."""

__version__ = "0.1.0"
