"""The technician console, in layers that import downwards only:

========================  ===================================================================
``registry``              every command declared once: words, usage, help, login, idle-only
``core``                  lines, dispatch, the public commands (``help``, ``status``, ...)
``auth``                  the PIN, the lockout, the login and its idle end
``values``                ``key=value`` arguments, parsed with a message that names the fault
``settings_cmds``         ``rx``, ``limits``
``cal_cmds``              ``cal`` and its measuring procedure
``service_cmds``          ``selftest``, ``fault``, ``log``
``clock_cmds``            ``clock``
``profile_cmds``          ``profile``: the course of treatment's profiles
``tech``                  the technician's console: the gate, slow work, procedures
``transports``            the pseudo-terminal and the UART
========================  ===================================================================
"""

from .auth import check_pin, guessable, provision_pin, set_pin
from .core import MAX_BYTES_PER_PERIOD, Console
from .tech import TechConsole
from .transports import PtyConsole, SerialConsole

__all__ = ["MAX_BYTES_PER_PERIOD", "Console", "PtyConsole", "SerialConsole", "TechConsole",
           "check_pin", "guessable", "provision_pin", "set_pin"]
