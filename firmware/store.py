"""Small settings files that survive a power cut: JSON with a checksum, written atomically.

``save`` writes a temporary file, fsyncs it, keeps the current file as ``NAME.prev`` (the
previous good copy), renames the temporary file over the current one and fsyncs the folder. At
every instant the folder holds a complete current file or a complete previous one. ``load``
verifies the checksum and says exactly what is wrong; it never guesses.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

FORMAT = 1


class StoreError(ValueError):
    """A settings file is missing or corrupt. ``problem`` says which and why."""

    def __init__(self, path: Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _digest(payload: dict) -> str:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()


def _create(path: Path, mode: int | None):
    """A new file for writing; with ``mode`` it has that mode from its creation, whatever the
    umask (the PIN's hash is never readable by others, not even for an instant)."""
    if mode is None:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115 - the caller closes it
    try:
        os.unlink(path)  # a left-over temporary file keeps its own mode otherwise
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)
    return os.fdopen(fd, "w", encoding="utf-8")


def save(path: Path | str, kind: str, payload: dict, *, mode: int | None = None) -> None:
    """Write ``payload`` atomically, keeping the previous good copy as ``<path>.prev``.
    ``mode`` (e.g. ``0o600``): the file and its previous copy get that mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "kind": kind, "payload": payload, "sha256": _digest(payload)}
    tmp = path.with_name(path.name + ".tmp")
    with _create(tmp, mode) as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        prev = path.with_name(path.name + ".prev")
        try:
            load(path, kind)  # keep only a good copy as the previous one
            # Copy (not rename): the current file exists at every instant.
            ptmp = path.with_name(path.name + ".prev.tmp")
            if mode is None:
                shutil.copyfile(path, ptmp)
            else:
                with _create(ptmp, mode) as f:
                    f.write(path.read_text(encoding="utf-8"))
            with open(ptmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(ptmp, prev)
        except StoreError:
            pass
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: Path | str, kind: str) -> dict:
    """Read and verify; raises :class:`StoreError` naming the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(path, "missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(path, f"unreadable: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(path, f"corrupt (not JSON: {exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("kind") != kind or "payload" not in doc:
        raise StoreError(path, f"corrupt (not a {kind} record)")
    if doc.get("format") != FORMAT:
        raise StoreError(path, f"unknown format {doc.get('format')!r}")
    if doc.get("sha256") != _digest(doc["payload"]):
        raise StoreError(path, "corrupt (checksum mismatch)")
    return doc["payload"]
