"""casenotes core: reading, de-identifying and annotating clinical case notes. Never imports Qt.

Importing it changes nothing in the process: the entry points (and every model loader, before it
imports a model library) switch the libraries offline with ``casenotes.hf.offline()``.
"""

__version__ = "0.1.0"
