"""``rx`` and ``limits``: the prescription and the technician limits, shown and set.

``show`` prints each value under the key ``set`` takes (``target: 15 mA`` is set with
``rx set target=15``), rounded to what it means, with its unit. A change is validated against
the device's bounds by the controller (a message names the field and the allowed range, and
nothing is changed), written to the settings files off the control loop, re-checked (a device
that refused to treat for missing settings, ST-SETTINGS, can be put right from the console) and
recorded in the audit trail with the values before and after.
"""

from __future__ import annotations

import dataclasses

from controller import Limits, PrescriptionError

from .. import settings
from .values import key_values, num, parse

#: the keys of ``rx set`` and ``rx show``: the type, the prescription's field, the unit and
#: the decimals that mean something
RX_KEYS = {"site": (str, "site", "", 0), "target": (float, "target_ma", "mA", 2),
           "duration": (float, "duration_min", "min", 1), "waveform": (str, "waveform", "", 0),
           "pulse_hz": (float, "pulse_hz", "Hz", 0), "pulse_duty": (float, "pulse_duty", "", 2),
           "reverse": (bool, "reverse_polarity", "", 0), "child": (bool, "child", "", 0),
           "ramp": (float, "ramp_ma_s", "mA/s", 2), "area": (float, "area_cm2", "cm2", 0)}
LIMIT_KEYS = {"density": ("density_ma_cm2", "mA/cm2", 3), "ramp": ("ramp_ma_s", "mA/s", 2),
              "hands": ("hands", "mA", 2), "feet": ("feet", "mA", 2),
              "axillae": ("axillae", "mA", 2)}


def rx_values(rx) -> dict[str, str]:
    """The prescription by ``rx set``'s keys, each value rounded, with its unit."""
    out = {}
    for key, (_typ, field, unit, places) in RX_KEYS.items():
        text = num(getattr(rx, field), places)
        out[key] = f"{text} {unit}" if unit and text != "-" else text
    return out


def limit_values(lim) -> dict[str, str]:
    out = {}
    for key, (field, unit, places) in LIMIT_KEYS.items():
        v = lim.site_max_ma.get(field) if field in lim.site_max_ma else getattr(lim, field)
        out[key] = f"{num(v, places)} {unit}"
    return out


def value_error(exc: Exception, keys: dict) -> str:
    """The refusal, naming the key the technician typed (``target``, not ``target_ma``)."""
    if isinstance(exc, PrescriptionError):
        names = {spec[1] if isinstance(spec[0], type) else spec[0]: k for k, spec in keys.items()}
        key = names.get(exc.field, exc.field)
        shown = num(exc.value, 4) if isinstance(exc.value, float) else exc.value
        return f"ERR VALUE: {key} = {shown}: {exc.allowed}; nothing was changed"
    return f"ERR VALUE: {exc}; nothing was changed"


def changes(before: dict[str, str], after: dict[str, str]) -> tuple[str, str]:
    """The audit's old and new: the keys that changed, ``key=value`` each."""
    keys = [k for k in after if before.get(k) != after[k]]
    if not keys:
        return "(no change)", "(no change)"
    return (" ".join(f"{k}={before[k].replace(' ', '')}" for k in keys),
            " ".join(f"{k}={after[k].replace(' ', '')}" for k in keys))


def register(con) -> None:
    reg = con.registry

    def ctl():
        return con.program.controller

    def rx_lines(rx):
        return [f"{k}: {v}" for k, v in rx_values(rx).items()]

    def limit_lines():
        return [f"{k}: {v}" for k, v in limit_values(ctl().limits).items()]

    def save(lines, action, before, after, rx=None, limits=None):
        def write():
            settings.save(con.data_dir, rx=rx, limits=limits)
            return settings.load(con.data_dir)[2]

        def finish(problem, error):
            if error is not None:
                return [], f"ERR STORAGE: the settings could not be written: {error}"
            ctl().settings_problem = problem
            warn = con.audit(action, *changes(before, after))
            if rx is not None:   # the prescription in force is the active profile's
                try:
                    con.program.course.prescription_set(rx, con.name)
                except Exception as exc:  # noqa: BLE001 - the prescription itself stands
                    warn = (f"warning: the profile {con.program.course.active} keeps its own "
                            f"prescription ({exc}); set it with profile set")
            return [*lines(), *([warn] if warn else [])], "OK"

        return con.background(write, finish)

    def rx_set(args):
        c = ctl()
        before = rx_values(c.rx)
        try:
            kv = key_values(args, RX_KEYS)
            new = {RX_KEYS[k][1]: parse(v, RX_KEYS[k][0]) for k, v in kv.items()}
            if any(k in new and new[k] != getattr(c.rx, k) for k in ("site", "child")):
                # the electrode area defaults by site and by child: a new site, or a child's
                # profile for an adult's (or back), takes its own default
                new.setdefault("area_cm2", None)
            new.setdefault("ramp_ma_s", c.rx.ramp_ma_s)
            rx = c.set_prescription(dataclasses.replace(c.rx, **new))
        except (ValueError, PrescriptionError) as exc:
            return [], value_error(exc, RX_KEYS)
        return save(lambda: rx_lines(rx), "rx set", before, rx_values(rx), rx=rx)

    def limits_set(args):
        c = ctl()
        before = limit_values(c.limits)
        try:
            kv = {k: parse(v, float) for k, v in key_values(args, LIMIT_KEYS).items()}
            site = dict(c.limits.site_max_ma)
            for s in ("hands", "feet", "axillae"):
                if s in kv:
                    site[s] = kv[s]
            lim = Limits(density_ma_cm2=kv.get("density", c.limits.density_ma_cm2),
                         ramp_ma_s=kv.get("ramp", c.limits.ramp_ma_s), site_max_ma=site)
            c.set_limits(lim)
        except (ValueError, PrescriptionError) as exc:
            return [], value_error(exc, LIMIT_KEYS)
        return save(limit_lines, "limits set", before, limit_values(lim), limits=lim)

    reg.command("rx", "the prescription, validated against the limits",
                "keys: " + " ".join(RX_KEYS))
    reg.register("rx show", lambda args: (rx_lines(ctl().rx), "OK"), default=True,
                 desc="the prescription in force, by the keys 'rx set' takes")
    reg.register("rx set", rx_set, args="key=value ...", nargs=(1, None), idle_only=True,
                 desc="change the prescription, e.g. rx set site=hands target=15 duration=20 "
                      "waveform=dc reverse=yes")
    reg.command("limits", "the technician limits, never above the device's bounds",
                "keys: density (mA/cm2), ramp (mA/s), and the most current for each site "
                "(mA): hands, feet, axillae")
    reg.register("limits show", lambda args: (limit_lines(), "OK"), default=True,
                 desc="the limits in force, by the keys 'limits set' takes")
    reg.register("limits set", limits_set, args="key=value ...", nargs=(1, None),
                 idle_only=True,
                 desc="change the limits, e.g. limits set density=0.2 ramp=0.5 hands=20 "
                      "feet=25 axillae=5")
