"""The prescription and the limits, as the technician set them: checksummed files in the data
folder (see :mod:`firmware.store`). Missing or corrupt means the device refuses to treat and
says why (self-test code ST-SETTINGS)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from controller import Limits, Prescription, PrescriptionError

from . import store


def rx_path(data_dir: Path) -> Path:
    return Path(data_dir) / "prescription.json"


def limits_path(data_dir: Path) -> Path:
    return Path(data_dir) / "limits.json"


def load(data_dir: Path) -> tuple[Prescription, Limits, str]:
    """``(prescription, limits, problem)``; ``problem`` is "" when both are valid. On a problem
    the defaults are returned so that the device can run, show the fault and refuse to treat."""
    problems = []
    try:
        limits = Limits(**store.load(limits_path(data_dir), "limits")).validated()
    except (store.StoreError, PrescriptionError, TypeError) as exc:
        limits = Limits()
        problems.append(f"limits: {exc}")
    try:
        rx = Prescription(**store.load(rx_path(data_dir), "prescription")).validated(limits)
    except (store.StoreError, PrescriptionError, TypeError) as exc:
        rx = Prescription().validated(limits)
        problems.append(f"prescription: {exc}")
    return rx, limits, "; ".join(problems)


def rx_record(data_dir: Path) -> dict | None:
    """The prescription file's record as it is stored (checksum verified, not validated), or
    None when it is missing or corrupt: what the treatment log's upgrade to profiles keeps as
    the first profile's prescription."""
    try:
        return store.load(rx_path(data_dir), "prescription")
    except store.StoreError:
        return None


def save(data_dir: Path, rx: Prescription | None = None, limits: Limits | None = None) -> None:
    if limits is not None:
        limits = limits.validated()
        store.save(limits_path(data_dir), "limits", asdict(limits))
    if rx is not None:
        store.save(rx_path(data_dir), "prescription", asdict(rx))
