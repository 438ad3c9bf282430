"""The local secret behind pseudonymous keys, surrogates and date shifts.

The secret is created once per installation (or per CASENOTES_HOME) and never leaves the machine:
the same MRN always gives the same key, the same name the same surrogate, in every run and file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def casenotes_home() -> Path:
    """Where casenotes keeps its secret and settings (CASENOTES_HOME overrides, e.g. for tests)."""
    override = os.environ.get("CASENOTES_HOME")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("casenotes", appauthor=False))


class KeyRing:
    def __init__(self, secret: bytes):
        self._secret = secret

    @classmethod
    def load_or_create(cls, home: Path | None = None) -> "KeyRing":
        home = home or casenotes_home()
        home.mkdir(parents=True, exist_ok=True)
        path = home / "secret.key"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
            os.replace(tmp, path)
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
