"""Who may use the technician commands: the PIN, the lockout, the login and its idle end.

- The PIN is stored as a salted scrypt hash (``<data dir>/pin.json``, checksummed); there is no
  default: it is provisioned on the device with ``ionto tech set-pin``, and until then the
  technician commands answer ``ERR NO-PIN`` with that hint.
- Five wrong PINs lock the console for 5 minutes, and the lock survives a restart
  (``<data dir>/console-lock.json``, wall-clock time).
- 10 minutes without a command end the login (:meth:`Login.expire`, applied when the next
  command comes).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from .. import store

MAX_TRIES = 5
LOCK_S = 300.0
IDLE_LOGOUT_S = 600.0
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}

NO_PIN = ("ERR NO-PIN: no technician PIN is set; set one on the device with "
          "'ionto tech set-pin'")
NOT_LOGGED_IN = "ERR AUTH: log in first with 'login <PIN>'"


def pin_path(data_dir: Path) -> Path:
    return Path(data_dir) / "pin.json"


def set_pin(data_dir: Path, pin: str) -> None:
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        raise ValueError("the PIN must be 6 to 12 digits")
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **SCRYPT)
    store.save(pin_path(data_dir), "pin", {"salt": salt.hex(), "scrypt": digest.hex(), **SCRYPT})


def check_pin(data_dir: Path, pin: str) -> bool:
    rec = store.load(pin_path(data_dir), "pin")
    digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(rec["salt"]),
                            n=rec["n"], r=rec["r"], p=rec["p"])
    return hmac.compare_digest(digest.hex(), rec["scrypt"])


class Lockout:
    """The count of wrong PINs and the lock, in a file that survives a restart."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "console-lock.json"

    def state(self) -> dict:
        try:
            return store.load(self.path, "console-lock")
        except store.StoreError:
            return {"failures": 0, "locked_until": 0.0}

    def save(self, state: dict) -> None:
        store.save(self.path, "console-lock", state)

    def attempt(self, data_dir: Path, pin: str, wall: float) -> tuple[bool, dict]:
        """Check ``pin`` and count the result (slow: scrypt and an fsync'd file). Returns
        whether it was right and the lock state; ``locked`` is set on the try that locks."""
        ok = check_pin(data_dir, pin)
        lock = self.state()
        if ok:
            self.save({"failures": 0, "locked_until": 0.0})
            return True, lock
        lock["failures"] += 1
        if lock["failures"] >= MAX_TRIES:
            lock = {"failures": 0, "locked_until": wall + LOCK_S, "locked": True}
        self.save({"failures": lock["failures"], "locked_until": lock["locked_until"]})
        return False, lock


class Login:
    """The technician's login on one console, on the device's clock."""

    def __init__(self):
        self.logged_in = False
        self.last_command_t = 0.0

    def start(self, now: float) -> None:
        self.logged_in = True
        self.last_command_t = now

    def end(self) -> None:
        self.logged_in = False

    def expire(self, now: float) -> bool:
        """End the login if it has been idle for ``IDLE_LOGOUT_S``; True if it ended now."""
        if self.logged_in and now - self.last_command_t > IDLE_LOGOUT_S:
            self.logged_in = False
            return True
        return False

    def touch(self, now: float) -> None:
        self.last_command_t = now
