"""systemd notification over ``$NOTIFY_SOCKET`` (no extra dependency).

``READY=1`` once the device is up; ``WATCHDOG=1`` from the control loop itself at half the
``WatchdogSec`` interval (``$WATCHDOG_USEC``): if the loop stops, the pings stop and systemd
restarts the service, on top of the external hardware watchdog that has already cut HV.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self.sock = None
        self.addr = None
        if addr:
            if addr.startswith("@"):
                addr = "\0" + addr[1:]
            self.addr = addr
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        usec = env.get("WATCHDOG_USEC", "")
        self.interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None
        self._last = None

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, message: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto(message.encode(), self.addr)
        except OSError:
            pass  # systemd gone: nothing to tell; the hardware watchdog still guards

    def ready(self) -> None:
        self.send("READY=1")

    def tick(self, now: float) -> None:
        """Call once per control period; pings at half the watchdog interval."""
        if self.interval is None:
            return
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
