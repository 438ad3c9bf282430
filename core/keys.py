"""The local secret behind pseudonymous keys, surrogates and date shifts.

The secret is created once per installation (or per CASENOTES_HOME) and never leaves the machine:
the same MRN always gives the same key, the same name the same surrogate, in every run and file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from casenotes.paths import SECRET_FILE, private_home, write_private


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
        path = private_home(home) / SECRET_FILE
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
