"""The console's transports: a pseudo-terminal in the simulator, pyserial on the Pi.

Each is polled once a period by the control loop's observer: it reads what is waiting (at most
``MAX_BYTES_PER_PERIOD`` bytes) and hands it to the console, lets the console deliver a finished
job's reply and end an idle login, and hands on the console's output queue
(:meth:`~firmware.console.tech.TechConsole.poll_jobs`); nothing here blocks. A write takes what
the line can carry now (a non-blocking write may take part of the bytes, or none) and says how
much it took; the console keeps the rest for the next period (:mod:`.core`).

A hang-up ends the technician's login: on the pseudo-terminal, the last program that had it
open closed it (the transport does not hold the terminal's side open itself, so that it sees
this); on the UART, the carrier (DCD) dropping, where the cable has one (``carrier=True``), or
the port failing (a USB adapter pulled out).
"""

from __future__ import annotations

import errno
import os

from .core import MAX_BYTES_PER_PERIOD
from .tech import TechConsole

#: the most bytes one write hands the UART driver (its buffer holds 4 kB)
OUT_CHUNK = 2048


class PtyConsole:
    """The console on a pseudo-terminal (``ionto device --sim``)."""

    def __init__(self, program, executor=None, **console_options):
        import pty
        import tty
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(slave)
        # Not kept open here: with no program on the terminal's side, a read gives EIO, which
        # is how a hang-up shows.
        os.close(slave)
        self.connected = False
        self.console = TechConsole(program, self._write, executor=executor,
                                   name=f"pty {self.path}", echo=True, **console_options)

    def _write(self, data: bytes) -> int:
        if not self.connected:
            return 0  # nobody there: it waits (and a hang-up drops it)
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0  # the terminal's buffer is full: the rest goes later
        except OSError:
            return 0

    def poll(self) -> None:
        try:
            data = os.read(self.master, MAX_BYTES_PER_PERIOD)
        except BlockingIOError:
            data = b""
            self.connected = True  # open on the other side, nothing typed
        except OSError as exc:
            if exc.errno == errno.EIO and self.connected:
                self.connected = False
                self.console.hangup()
            data = b""
        else:
            self.connected = True
        if data:
            self.console.feed(data)
        self.console.poll_jobs()

    def close(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass


class SerialConsole:
    """The console on the UART through pyserial (on the Pi). :param carrier: the cable carries
    DCD (a modem or a USB adapter with it wired): its drop is a hang-up. The Pi's own UART has
    no DCD line; there only a failing port counts as one."""

    def __init__(self, program, port: str, baud: int, *, carrier: bool = False,
                 executor=None):
        import serial
        self.port_name = port
        self.carrier = carrier
        self.ser = serial.Serial(port, baud, timeout=0, write_timeout=0)
        self._had_carrier = False
        if executor is None:
            from concurrent.futures import ThreadPoolExecutor

            # The scrypt PIN check and fsync'd writes run on this thread, never in the loop.
            executor = ThreadPoolExecutor(1)
        self.console = TechConsole(program, self._write, executor=executor,
                                   name=f"uart {port}", echo=True)
        self.failed = False

    def _write(self, data: bytes) -> int:
        """One non-blocking write to the port's file descriptor: what the driver takes now.
        Not pyserial's ``write``: with ``write_timeout=0`` it retries a write the driver refuses
        (EAGAIN) until there is room, a busy wait in the control loop."""
        if self.failed:
            return 0
        try:
            return os.write(self.ser.fd, data[:OUT_CHUNK])
        except BlockingIOError:
            return 0  # the driver's buffer is full: the rest goes in a later period
        except OSError:
            return 0  # a failing port: poll() sees it and counts it as a hang-up

    def poll(self) -> None:
        try:
            if self.carrier:
                cd = self.ser.cd
                if self._had_carrier and not cd:
                    self.console.hangup()
                self._had_carrier = cd
            n = min(self.ser.in_waiting, MAX_BYTES_PER_PERIOD)
            if n:
                self.console.feed(self.ser.read(n))
            self.failed = False
        except Exception:  # noqa: BLE001 - a cable pulled mid-session must not stop the loop
            if not self.failed:
                self.failed = True
                self.console.hangup()
        self.console.poll_jobs()

    def close(self) -> None:
        self.ser.close()
