"""The local secret behind pseudonymous keys, surrogates and date shifts.

The secret is created once per installation (or per CASENOTES_HOME) and never leaves the machine:
the same MRN always gives the same key, the same name the same surrogate, in every run and file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path


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


class KeyRing:
    def __init__(self, secret: bytes):
        self._secret = secret

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyRing) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.digest("keyring", ""))

    def __repr__(self) -> str:
        return "KeyRing(<secret>)"

    @classmethod
    def load_or_create(cls, home: Path | None = None) -> "KeyRing":
        path = private_home(home) / "secret.key"
        if not path.exists():
            write_private(path, secrets.token_bytes(32), only_if_new=True)
        return cls(path.read_bytes())

    def digest(self, purpose: str, value: str) -> bytes:
        message = f"{purpose}\x00{value.strip().lower()}".encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def pseudonym(self, value: str, prefix: str = "P") -> str:
        """A stable key such as 'P-7K3M9Q2XWD' for an identifier value."""
        alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        number = int.from_bytes(self.digest("pseudonym", value)[:8], "big")
        chars = []
        for _ in range(10):
            number, rest = divmod(number, len(alphabet))
            chars.append(alphabet[rest])
        return f"{prefix}-{''.join(chars)}"

    def seed(self, purpose: str, value: str) -> int:
        return int.from_bytes(self.digest(purpose, value)[:8], "big")

    def date_shift_days(self, patient_key: str) -> int:
        """A per-patient shift between 30 and 365 days back or forward, never zero."""
        seed = self.seed("date-shift", patient_key)
        days = 30 + seed % 336
        return days if (seed >> 20) & 1 else -days
