"""Who may use the technician commands: the PIN, the lockout, the login and its end.

- The PIN is stored as a salted scrypt hash (``<data dir>/pin.json``, checksummed, mode 0600);
  there is no default: it is provisioned on the device with ``ionto tech set-pin``, and until
  then the technician commands answer ``ERR NO-PIN`` with that hint. ``ionto tech set-pin``
  refuses a PIN that a guess tries first (:func:`guessable`): one digit repeated, a run up or
  down (``123456``, the simulated unit's PIN, ``987654``), a short group repeated (``121212``).
- Five wrong PINs lock the console for 5 minutes. The lock survives a restart
  (``<data dir>/console-lock.json``, mode 0600, wall-clock time; after a restart the rest of the
  lock, never more than 5 minutes, counts on the device clock).
- The login ends with ``logout``, when the console hangs up (the terminal closed, the serial
  carrier lost) and after 10 minutes without a command (:meth:`Login.expire`, checked every
  period). The lockout and the idle logout count the same clock, the console's (injected).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

from .. import store

MAX_TRIES = 5
LOCK_S = 300.0
IDLE_LOGOUT_S = 600.0
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
#: secret files: the owner alone reads them
FILE_MODE = 0o600

NO_PIN = ("ERR NO-PIN: no technician PIN is set; set one on the device with "
          "'ionto tech set-pin'")
NOT_LOGGED_IN = "ERR AUTH: log in first with 'login <PIN>'"


def pin_path(data_dir: Path) -> Path:
    return Path(data_dir) / "pin.json"


def guessable(pin: str) -> str | None:
    """Why ``pin`` is among the first a guess tries, or ``None``: one digit repeated, a run of
    digits up or down (wrapping past 9 or 0), or a shorter group of digits repeated."""
    if len(set(pin)) == 1:
        return "it is one digit repeated"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if steps == {1}:
        return "its digits run up one by one"
    if steps == {9}:
        return "its digits run down one by one"
    for n in range(2, len(pin) // 2 + 1):
        if len(pin) % n == 0 and pin == pin[:n] * (len(pin) // n):
            return f"it repeats the group {pin[:n]}"
    return None


def set_pin(data_dir: Path, pin: str) -> None:
    """Store ``pin``'s hash (6 to 12 digits; the check of a new technician PIN is
    :func:`provision_pin`'s)."""
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        raise ValueError("the PIN must be 6 to 12 digits")
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **SCRYPT)
    store.save(pin_path(data_dir), "pin", {"salt": salt.hex(), "scrypt": digest.hex(), **SCRYPT},
               mode=FILE_MODE)


def provision_pin(data_dir: Path, pin: str) -> None:
    """``ionto tech set-pin``: a unit's PIN, refused if a guess would try it first."""
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        raise ValueError("the PIN must be 6 to 12 digits")
    why = guessable(pin)
    if why:
        raise ValueError(f"that PIN is among the first a guess tries ({why}); choose another")
    set_pin(data_dir, pin)


def check_pin(data_dir: Path, pin: str) -> bool:
    rec = store.load(pin_path(data_dir), "pin")
    digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(rec["salt"]),
                            n=rec["n"], r=rec["r"], p=rec["p"])
    return hmac.compare_digest(digest.hex(), rec["scrypt"])


class Lockout:
    """The count of wrong PINs and the lock, in a file that survives a restart. The file holds
    the wall-clock end of a lock (``wall``); the console counts a lock on its own clock."""

    def __init__(self, data_dir: Path, wall=time.time):
        self.path = Path(data_dir) / "console-lock.json"
        self.wall = wall

    def state(self) -> dict:
        try:
            return store.load(self.path, "console-lock")
        except store.StoreError:
            return {"failures": 0, "locked_until": 0.0}

    def save(self, state: dict) -> None:
        store.save(self.path, "console-lock", state, mode=FILE_MODE)

    def remaining_s(self) -> float:
        """What is left of a lock from before a restart: 0 to ``LOCK_S`` seconds (a wall
        clock set back cannot make it longer)."""
        left = self.state()["locked_until"] - self.wall()
        return min(max(left, 0.0), LOCK_S)

    def attempt(self, data_dir: Path, pin: str) -> tuple[bool, dict]:
        """Check ``pin`` and count the result (slow: scrypt and an fsync'd file). Returns
        whether it was right and the lock state; ``locked`` is set on the try that locks."""
        ok = check_pin(data_dir, pin)
        lock = self.state()
        if ok:
            self.save({"failures": 0, "locked_until": 0.0})
            return True, lock
        lock["failures"] += 1
        if lock["failures"] >= MAX_TRIES:
            lock = {"failures": 0, "locked_until": self.wall() + LOCK_S, "locked": True}
        self.save({"failures": lock["failures"], "locked_until": lock["locked_until"]})
        return False, lock


class Login:
    """The technician's login on one console, on the console's clock."""

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
