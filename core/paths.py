"""Where casenotes keeps things on this machine: the one place for its folders.

* data: the local secret, the department's lists, added models (``CASENOTES_HOME`` overrides,
  e.g. for tests); created readable by its owner only, for the secret and lists are sensitive.
* cache: the ICD-10-CM index and summarizers converted for CTranslate2, rebuilt if lost
  (``CASENOTES_CACHE`` overrides).
The window's own settings are Qt's (QSettings); a run's outputs and checkpoint are beside its input
or in the output folder chosen, never here.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

SECRET_FILE = "secret.key"


def casenotes_home() -> Path:
    """Where casenotes keeps its secret and settings (CASENOTES_HOME overrides, e.g. for tests)."""
    override = os.environ.get("CASENOTES_HOME")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("casenotes", appauthor=False))


def private_home(home: Path | None = None) -> Path:
    """The user data folder, created readable by its owner only: it holds the secret and PHI lists."""
    home = home or casenotes_home()
    if not home.exists():
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
    return home


def write_private(path: Path, data: bytes, only_if_new: bool = False) -> None:
    """Write a file readable by its owner only, atomically (temporary name, then rename).

    ``only_if_new``: leave a file that another thread or process created first as it is (linking
    the temporary file into place fails if the name exists), so that all of them use one secret.
    """
    # One temporary name per thread: two threads of one process must not write the same file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if only_if_new:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links: a rename, unless another made it meanwhile
                if not path.exists():
                    os.replace(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()




def models_dir() -> Path:
    """Local models added to the installation (``casenotes models add``)."""
    return casenotes_home() / "models"


def cache_dir() -> Path:
    """Rebuildable data: the ICD-10-CM index, converted summarizers."""
    override = os.environ.get("CASENOTES_CACHE")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("casenotes", appauthor=False))


def converted_models_dir() -> Path:
    """Summarizer models converted for CTranslate2 (core/summarize/ctranslate.py): rebuilt from the
    model folder when lost, so they sit in the cache, not beside the user's data."""
    # Owner-only like the data folder: a department's fine-tuned summarizer is copied here.
    folder = cache_dir() / "ctranslate2"
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    return folder
