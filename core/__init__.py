"""casenotes core: reading, de-identifying and annotating clinical case notes. Never imports Qt."""

import os

# The Hugging Face libraries read these once, when first imported: set them before anything can
# import them, so no entry point (CLI, window, a script using core) can reach the model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
