"""The console's transports: a pseudo-terminal in the simulator, pyserial on the Pi.

Each is polled once a period by the control loop's observer: it delivers a finished job's reply
(:meth:`~firmware.console.tech.TechConsole.poll_jobs`), reads what is waiting (at most
``MAX_BYTES_PER_PERIOD`` bytes) and hands it to the console, and returns; nothing here blocks.
"""

from __future__ import annotations

import os

from .core import MAX_BYTES_PER_PERIOD
from .tech import TechConsole


class PtyConsole:
    """The console on a pseudo-terminal (``ionto device --sim``)."""

    def __init__(self, program, executor=None):
        import pty
        import tty
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.console = TechConsole(program, self._write, executor=executor)

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass  # nobody reading: the reply is dropped, the device goes on

    def poll(self) -> None:
        self.console.poll_jobs()
        try:
            data = os.read(self.master, MAX_BYTES_PER_PERIOD)
        except (BlockingIOError, OSError):
            return
        if data:
            self.console.feed(data)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class SerialConsole:
    """The console on the UART through pyserial (on the Pi)."""

    def __init__(self, program, port: str, baud: int):
        from concurrent.futures import ThreadPoolExecutor

        import serial
        self.ser = serial.Serial(port, baud, timeout=0, write_timeout=0)
        # The scrypt PIN check and fsync'd writes run on this thread, never in the loop.
        self.console = TechConsole(program, self._write, executor=ThreadPoolExecutor(1))

    def _write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
        except Exception:  # noqa: BLE001 - a full output buffer must not stop the device
            pass

    def poll(self) -> None:
        self.console.poll_jobs()
        try:
            n = min(self.ser.in_waiting, MAX_BYTES_PER_PERIOD)
            if n:
                self.console.feed(self.ser.read(n))
        except Exception:  # noqa: BLE001 - a cable pulled mid-session must not stop the loop
            pass

    def close(self) -> None:
        self.ser.close()
