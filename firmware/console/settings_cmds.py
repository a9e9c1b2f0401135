"""``rx`` and ``limits``: the prescription and the technician limits, shown and set.

A change is validated against the device's bounds by the controller (a message names the field
and the allowed range, and nothing is changed), written to the settings files off the control
loop, and re-checked: a device that refused to treat for missing settings (ST-SETTINGS) can be
put right from the console.
"""

from __future__ import annotations

import dataclasses

from controller import Limits, PrescriptionError

from .. import settings
from .values import key_values, parse

RX_KEYS = {"site": str, "target": float, "duration": float, "waveform": str,
           "pulse_hz": float, "pulse_duty": float, "reverse": bool, "child": bool,
           "ramp": float, "area": float}
RX_FIELDS = {"target": "target_ma", "duration": "duration_min", "reverse": "reverse_polarity",
             "ramp": "ramp_ma_s", "area": "area_cm2"}
LIMIT_KEYS = {"density": float, "ramp": float, "hands": float, "feet": float, "axillae": float}


def register(con) -> None:
    reg = con.registry

    def ctl():
        return con.program.controller

    def rx_lines(rx):
        return [f"{k}: {v}" for k, v in dataclasses.asdict(rx).items()]

    def limit_lines():
        lim = ctl().limits
        return [f"density_ma_cm2: {lim.density_ma_cm2}", f"ramp_ma_s: {lim.ramp_ma_s}",
                *[f"site_max_ma.{k}: {v}" for k, v in lim.site_max_ma.items()]]

    def save(lines, rx=None, limits=None):
        def write():
            settings.save(con.data_dir, rx=rx, limits=limits)
            return settings.load(con.data_dir)[2]

        def finish(problem, error):
            if error is not None:
                return [], f"ERR STORAGE: the settings could not be written: {error}"
            ctl().settings_problem = problem
            return lines(), "OK"

        return con.background(write, finish)

    def rx_set(args):
        c = ctl()
        try:
            kv = key_values(args, RX_KEYS)
            changes = {RX_FIELDS.get(k, k): parse(v, RX_KEYS[k]) for k, v in kv.items()}
            if any(k in changes and changes[k] != getattr(c.rx, k) for k in ("site", "child")):
                # the electrode area defaults by site and by child: a new site, or a child's
                # profile for an adult's (or back), takes its own default
                changes.setdefault("area_cm2", None)
            changes.setdefault("ramp_ma_s", c.rx.ramp_ma_s)
            rx = c.set_prescription(dataclasses.replace(c.rx, **changes))
        except (ValueError, PrescriptionError) as exc:
            return [], f"ERR VALUE: {exc}; nothing was changed"
        return save(lambda: rx_lines(rx), rx=rx)

    def limits_set(args):
        c = ctl()
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
            return [], f"ERR VALUE: {exc}; nothing was changed"
        return save(limit_lines, limits=lim)

    reg.command("rx", "the prescription, validated against the limits",
                "keys: " + " ".join(RX_KEYS))
    reg.register("rx show", lambda args: (rx_lines(ctl().rx), "OK"), default=True,
                 desc="the prescription in force")
    reg.register("rx set", rx_set, args="key=value ...", nargs=(1, None), idle_only=True,
                 desc="change the prescription, e.g. rx set site=hands target=15 duration=20 "
                      "waveform=dc reverse=yes")
    reg.command("limits", "the technician limits, never above the device's bounds",
                "keys: " + " ".join(LIMIT_KEYS))
    reg.register("limits show", lambda args: (limit_lines(), "OK"), default=True,
                 desc="the limits in force")
    reg.register("limits set", limits_set, args="key=value ...", nargs=(1, None),
                 idle_only=True,
                 desc="change the limits (keys: " + " ".join(LIMIT_KEYS) + "), e.g. limits "
                      "set density=0.2 ramp=0.5 hands=20 feet=25 axillae=5")
