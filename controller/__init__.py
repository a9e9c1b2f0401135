"""Pure treatment logic: prescription and limits, the session state machine, ramps, regulation
and the safety rules. Time is passed in; nothing here imports gpiozero, adafruit or ``sim``."""

from .events import Event, EventLog
from .io import SAFE, Command, Inputs
from .limits import Limits, Prescription, PrescriptionError
from .rules import Reaction, Rule, RuleConstants, RuleContext, RuleEngine, make_rules
from .selftest import SelfTestFailure
from .session import PERIOD, Controller, ControllerConfig, SessionRecord

__all__ = [
    "Command", "Controller", "ControllerConfig", "Event", "EventLog", "Inputs", "Limits",
    "PERIOD", "Prescription", "PrescriptionError", "Reaction", "Rule", "RuleConstants",
    "RuleContext", "RuleEngine", "SAFE", "SelfTestFailure", "SessionRecord", "make_rules",
]
