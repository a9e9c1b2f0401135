"""The console's commands, each declared once: its words, its arguments, what it does, whether
it needs the technician's login and whether a running treatment refuses it.

Klipper's ``register_command(cmd, func, desc=...)`` is the model: a command module registers
its handlers with their description, and everything the technician reads about a command
(``help``, ``help <command>``, ``ERR ARGS: usage: ...``, ``ERR BUSY``) is made here from that one
declaration, so the usage a refusal prints is the usage ``help`` shows.

A command is one word (``status``) or a word with sub-commands (``rx show``, ``rx set``); a
command with sub-commands may name one as its default, run when the word is typed alone
(``rx`` is ``rx show``). Pure bookkeeping: nothing here touches the device.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

#: a reply: the lines and the status line (``OK`` or ``ERR <CODE>: ...``); ``None`` when a
#: procedure was started in the control loop and replies when it ends
Reply = tuple[list[str], str] | None
Handler = Callable[[list[str]], Reply]

BUSY = "ERR BUSY: a treatment is running; change settings when the device is idle"
#: help is wrapped at a word to fit an 80-column terminal (a terminal cuts a longer line
#: wherever the column ends); a continuation line starts with spaces
WIDTH = 79


def wrap(text: str, indent: int) -> list[str]:
    """``text`` in lines of at most ``WIDTH`` columns, cut between words, the lines after
    the first indented by ``indent`` spaces."""
    return textwrap.wrap(text, WIDTH, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


@dataclass(frozen=True, slots=True)
class Spec:
    """One command (or sub-command) as declared."""

    words: tuple[str, ...]
    handler: Handler
    desc: str
    args: str = ""                    # the arguments' usage after the words
    nargs: tuple[int, int | None] = (0, 0)
    login: bool = True                # needs ``login <PIN>`` first
    idle_only: bool = False           # refused with ERR BUSY while a treatment runs
    default: bool = False             # run when the command's word is typed alone

    @property
    def usage(self) -> str:
        return " ".join(self.words) + (f" {self.args}" if self.args else "")

    def takes(self, n: int) -> bool:
        lo, hi = self.nargs
        return n >= lo and (hi is None or n <= hi)


class Registry:
    """The declared commands, by their first word."""

    def __init__(self):
        self._specs: dict[str, list[Spec]] = {}
        self._desc: dict[str, tuple[str, str]] = {}

    def command(self, name: str, desc: str, detail: str = "") -> None:
        """Describe a command that has sub-commands: ``desc``, its line in ``help`` (short:
        one terminal line), and ``detail``, what ``help <name>`` adds."""
        self._desc[name] = (desc, detail)

    def register(self, words: str, handler: Handler, *, desc: str, args: str = "",
                 nargs: tuple[int, int | None] = (0, 0), login: bool = True,
                 idle_only: bool = False, default: bool = False) -> None:
        spec = Spec(tuple(words.split()), handler, desc, args, nargs, login, idle_only, default)
        specs = self._specs.setdefault(spec.words[0], [])
        if any(s.words == spec.words for s in specs):
            raise ValueError(f"console command {words!r} is declared twice")
        if specs and specs[0].login != login:
            raise ValueError(f"console command {words!r}: its sub-commands differ on the login")
        specs.append(spec)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def needs_login(self, name: str) -> bool:
        return self._specs[name][0].login

    def usage(self, name: str) -> str:
        return " | ".join(s.usage for s in self._specs[name])

    def args_error(self, name: str) -> str:
        return f"ERR ARGS: usage: {self.usage(name)}"

    def resolve(self, name: str, args: list[str]) -> tuple[Spec | None, list[str], str]:
        """The spec that ``name args`` runs and the arguments left for it, or ``None`` with
        the ``ERR ARGS`` line that says how to type it."""
        specs = self._specs[name]
        if len(specs) == 1 and len(specs[0].words) == 1:
            spec, rest = specs[0], args
        elif args and (hit := next((s for s in specs if s.words[1:] == (args[0],)), None)):
            spec, rest = hit, args[1:]
        elif not args and (hit := next((s for s in specs if s.default), None)):
            spec, rest = hit, []
        else:
            return None, args, self.args_error(name)
        if not spec.takes(len(rest)):
            return None, rest, f"ERR ARGS: usage: {spec.usage}"
        return spec, rest, ""

    def help_lines(self) -> list[str]:
        """A line a command: its name and what it does."""
        return [line for name in self.names()
                for line in wrap(f"{name:10s} {self.summary(name)}", 11)]

    def summary(self, name: str) -> str:
        if name in self._desc:
            return self._desc[name][0]
        return self._specs[name][0].desc

    def help_for(self, name: str) -> list[str]:
        """A command in full: what it does and every way to type it."""
        lines = []
        if name in self._desc:
            desc, detail = self._desc[name]
            lines = wrap(desc + (f"; {detail}" if detail else ""), 2)
        for s in self._specs[name]:
            lines += wrap(f"{s.usage}: {s.desc}" + (" (refused during a treatment)"
                                                     if s.idle_only else ""), 2)
        if self._specs[name][0].login:
            lines.append("needs 'login <PIN>' first")
        return lines
