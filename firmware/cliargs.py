"""The checks of every number and path the ``ionto`` command takes, shared by all its commands.

Each value a command takes goes through one of the ``type=`` functions below before the command
runs: a number must be finite, of the right kind and within its range, a path must be what the
option needs (an existing file, an existing folder, a folder that can be made, a file that can
be written). Anything else is refused by :class:`Parser` with one line that names the option,
the value and what is allowed, and exit status 2, before anything is simulated, written or
created. Without these checks a value reaches arithmetic far from where it was typed (a speed
of 0 divides by zero, a negative load takes a square root of a negative number, a seed of 400
digits overflows a float, ``--runs -1`` "passes" a campaign of no runs) or the file system (a
typing error in ``--data-dir`` silently makes a new, empty data folder).

Every checker carries the words of what it accepts in ``allowed`` (the help texts and the
tests use them) and its ``kind`` (``"number"``, ``"file"``, ``"dir"``, ``"new-dir"``,
``"out-file"``, ``"speed"``).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from hardware.allowed import allowed

#: the longest shown form of a bad number (a 400-digit one is not printed whole) and of a path
_SHOW = 40
_SHOW_PATH = 300


def _shown(text: str, limit: int = _SHOW) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit - 3] + "...")


def _parse_number(text: str, integer: bool):
    """The text as an int (``integer``) or a float; never NaN or an infinity (refused by the
    range check), never an integer Python cannot read (more than 4300 digits)."""
    text = text.strip()
    if integer:
        try:
            return int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError("not a whole number") from None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("not a finite number")
    return value


def number_arg(lo=None, hi=None, *, integer=False, low_open=False, unit=""):
    """A ``type=`` function: a finite number (an int with ``integer``) from ``lo`` to ``hi``
    (``lo`` excluded with ``low_open``). The range is tested on the value as read (Python
    compares an int with a float exactly, whatever its size), so an integer of 400 digits is
    simply out of range; a float is returned as a float."""
    words = allowed(lo, hi, integer=integer, low_open=low_open, unit=unit)

    def check(text: str):
        try:
            value = _parse_number(text, integer)
        except argparse.ArgumentTypeError:
            value = None
        if value is not None:
            below = lo is not None and (value <= lo if low_open else value < lo)
            if not below and (hi is None or value <= hi):
                return value if integer else float(value)
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not allowed; allowed: {words}")

    check.allowed = words
    check.kind = "number"
    check.__name__ = "number"
    return check


def profile_id_arg():
    """A ``type=`` function for a profile's id: 1 to 12 characters, each a-z, 0-9 or '-'."""
    import re
    words = "1 to 12 characters, each a-z, 0-9 or '-' (a profile's id)"

    def check(text: str) -> str:
        if not re.fullmatch(r"[a-z0-9-]{1,12}", text):
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not allowed; allowed: {words}")
        return text

    check.allowed = words
    check.kind = "profile"
    check.__name__ = "profile"
    return check


def speed_arg(lo: float = 0.01, hi: int = 10_000):
    """A ``type=`` function for a simulation speed: ``max`` (as fast as the machine allows:
    returned as None) or a factor of real time from ``lo`` to ``hi``. A factor near zero would
    make the pacing sleep for ages (and ``time.sleep`` overflow)."""
    factor = number_arg(lo, hi, unit="times real time")
    words = f"max, or {factor.allowed}"

    def check(text: str):
        if text.strip().lower() == "max":
            return None
        try:
            return factor(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not allowed; allowed: "
                                             f"{words}") from None

    check.allowed = words
    check.kind = "speed"
    check.__name__ = "speed"
    return check


#: a Dask scheduler's address: [tcp:// or tls://]HOST:PORT (a name, an IPv4 address or a
#: bracketed IPv6 address)
_ADDRESS = re.compile(r"(?:(?:tcp|tls)://)?(?:[A-Za-z0-9]([A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])"
                      r":([0-9]{1,5})")


def address_arg():
    """A ``type=`` function for a Dask scheduler's address (``--scheduler``): checked for its
    form only; whether a scheduler answers there is the command's to say."""
    words = "a scheduler address HOST:PORT or tcp://HOST:PORT (port 1 to 65535)"

    def check(text: str) -> str:
        m = _ADDRESS.fullmatch(text.strip())
        if m is None or not 1 <= int(m.group(2)) <= 65535:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not allowed; allowed: {words}")
        text = text.strip()
        return text if "://" in text else f"tcp://{text}"

    check.allowed = words
    check.kind = "address"
    check.__name__ = "address"
    return check


def _path(text: str) -> Path:
    if not text or "\x00" in text:
        raise argparse.ArgumentTypeError(f"{_shown(text, _SHOW_PATH)} is not a path")
    return Path(text).expanduser()


def _path_check(kind: str, words: str, test):
    def check(text: str) -> Path:
        path = _path(text)
        problem = test(path)
        if problem:
            raise argparse.ArgumentTypeError(f"{_shown(text, _SHOW_PATH)} {problem}; "
                                             f"allowed: {words}")
        return path

    check.allowed = words
    check.kind = kind
    check.__name__ = kind
    return check


def _exists_as(path: Path, want: str) -> str | None:
    try:
        if not path.exists():
            return "does not exist"
        if want == "file" and path.is_dir():
            return "is a folder"
        if want == "dir" and not path.is_dir():
            return "is not a folder"
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror or exc})"
    return None


def _new_dir(path: Path) -> str | None:
    """A folder that exists or can be made: nothing on the way is a file."""
    try:
        for p in (path, *path.parents):
            if p.exists():
                return None if p.is_dir() else (
                    "is a file" if p == path else f"lies under {p}, which is a file")
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror or exc})"
    return None


def _out_file(suffix: str | None):
    def test(path: Path) -> str | None:
        if suffix and path.suffix.lower() != suffix:
            return f"does not end in {suffix}"
        try:
            if path.is_dir():
                return "is a folder"
            parent = path.parent
            if not parent.is_dir():
                return f"is in {parent}, which is not an existing folder"
        except OSError as exc:
            return f"cannot be looked at ({exc.strerror or exc})"
        return None
    return test


def existing_file(what: str = "file"):
    """A ``type=`` function: an existing file (not a folder)."""
    return _path_check("file", f"an existing {what}", lambda p: _exists_as(p, "file"))


def existing_dir(what: str = "folder"):
    """A ``type=`` function: an existing folder. It is never created: a typing error must not
    give the device a new, empty data folder (no calibration, no PIN, no log)."""
    return _path_check("dir", f"an existing {what}", lambda p: _exists_as(p, "dir"))


def new_dir(what: str = "folder"):
    """A ``type=`` function for an output folder: an existing folder, or one that can be made
    (none of its parents is a file)."""
    return _path_check("new-dir", f"a {what} (made if missing), not a file", _new_dir)


def out_file(suffix: str | None = None):
    """A ``type=`` function for a file to write: in an existing folder, not itself a folder,
    ending in ``suffix`` if one is given."""
    words = "a file name in an existing folder" + (f", ending in {suffix}" if suffix else "")
    return _path_check("out-file", words, _out_file(suffix))


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: the command, what was wrong (the option,
    the value, what is allowed) and where the help is; exit status 2. argparse's own form
    prints the whole usage first, and for ``ionto device`` that is seven lines above the one
    that matters."""

    def error(self, message: str):
        if message.startswith("argument "):
            message = message[len("argument "):]
        # argparse's "invalid choice: 'x' (choose from 'a', 'b')" in the words of the others
        message = re.sub(r"invalid choice: (.*) \(choose from (.*)\)$",
                         r"\1 is not allowed; allowed: \2", message)
        self.exit(2, f"{self.prog}: {message} ('{self.prog} --help' lists the options)\n")


__all__ = ["Parser", "address_arg", "existing_dir", "existing_file", "new_dir", "number_arg",
           "out_file", "speed_arg"]
