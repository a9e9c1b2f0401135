"""``selftest``, ``fault`` and ``log``: the self-test on demand, the latched fault and its
clearing (only after a self-test passes), the treatment log and the audit trail.

``log export`` is a long reply: its CSV lines are read from the log a page at a time and sent
as fast as the terminal takes them (:mod:`.core`), so that a long session arrives whole
whatever the line's speed; Ctrl-C stops it.
"""

from __future__ import annotations

import json

from controller import Prescription

from .settings_cmds import rx_values
from .values import num

#: the decimals of a session's figures in ``log show``: seconds to a tenth, currents to ten
#: microamperes, the dose to a hundredth of a mA x min, the load to the ohm
SESSION_PLACES = {"start_s": 1, "end_s": 1, "treat_s": 1, "dose_ma_min": 2, "peak_ma": 2,
                  "mean_load_ohm": 0, "lowest_target_ma": 2}
AUDIT_LAST = 20


def session_lines(row: dict) -> list[str]:
    """A session's record, each figure rounded to what it means, the prescription by the
    keys ``rx set`` takes."""
    lines = []
    for k, v in row.items():
        if k == "prescription":
            try:
                rx = Prescription(**json.loads(v))
                v = " ".join(f"{key}={val.replace(' ', '')}"
                             for key, val in rx_values(rx).items())
            except (TypeError, ValueError):
                pass  # an older record: shown as it was stored
        lines.append(f"{k}: {num(v, SESSION_PLACES.get(k, 3))}")
    return lines


def audit_line(r: dict) -> str:
    change = f" {r['old']} -> {r['new']}" if r["old"] is not None or r["new"] is not None else ""
    detail = f" ({r['detail']})" if r["detail"] else ""
    return f"{r['id']} {r['utc']} {r['console']}: {r['action']}{change}{detail}"


def register(con) -> None:
    """Declare ``selftest``, ``fault`` and ``log`` on console ``con``."""
    _register_selftest_and_fault(con)
    _register_log(con)


def _register_selftest_and_fault(con) -> None:
    p = con.program

    def selftest(args):
        def finish(result, error):
            if error is not None:
                return [str(error)], f"ERR SELFTEST: {str(error).split(':')[0]}"
            return [f"{k}: {v:.4g}" for k, v in result.items()], "OK"
        return con.procedure(p.controller.selftest_sequence(), finish)

    def fault_show(args):
        f = p.controller.fault
        if f is None:
            return ["fault: none"], "OK"
        return [f"fault: {f.code}", f"message: {f.message}",
                f"at_s: {f.at_s:.3f}"], "OK"

    def fault_clear(args):
        c = p.controller
        if c.fault is None:
            return ["no fault to clear"], "OK"

        old = f"{c.fault.code}: {c.fault.message}"

        def finish(result, error):
            if error is not None:
                con.audit("fault clear", old, old, "the self-test failed; the fault stays")
                return [str(error)], "ERR SELFTEST: the self-test failed; the fault stays"
            c.clear_fault(p.clock.now())
            warn = con.audit("fault clear", old, "none", "the self-test passed")
            return ["self-test passed; fault cleared", *([warn] if warn else [])], "OK"
        return con.procedure(c.selftest_sequence(), finish)

    reg = con.registry
    reg.register("selftest", selftest, desc="run the self-test now (the output must be idle)")
    reg.command("fault", "the latched fault, and its clearing after a self-test")
    reg.register("fault show", fault_show, default=True, desc="the latched fault, if any")
    reg.register("fault clear", fault_clear,
                 desc="run the self-test; clear the fault only if it passes")


def _register_log(con) -> None:
    p = con.program

    def log_list(args):
        return [f"{r['id']} {r['start_utc']} {r['outcome']} treat_s={r['treat_s'] or 0:.0f} "
                f"dose={r['dose_ma_min'] or 0:.1f} fault={r['fault_code'] or '-'}"
                for r in p.log.sessions()[-50:]], "OK"

    def session_row(arg):
        try:
            sid = int(arg)
        except ValueError:
            return None, f"ERR VALUE: '{arg[:16]}' is not a session number"
        row = p.log.session(sid)
        if row is None:
            return None, f"ERR NOT-FOUND: no session {sid}; 'log list' shows them"
        return (sid, row), ""

    def log_show(args):
        found, error = session_row(args[0])
        if found is None:
            return [], error
        return session_lines(found[1]), "OK"

    def log_export(args):
        found, error = session_row(args[0])
        if found is None:
            return [], error
        return (line[:-2] for line in p.log.export_lines(found[0])), "OK"

    def log_audit(args):
        try:
            last = int(args[0]) if args else AUDIT_LAST
            if last < 1:
                raise ValueError
        except ValueError:
            return [], f"ERR VALUE: '{args[0][:16]}' is not a count of rows (1 or more)"
        rows = p.log.audit_rows(last)
        return [audit_line(r) for r in rows] or ["no audit rows yet"], "OK"

    reg = con.registry
    reg.command("log", "the treatment log and the audit trail")
    reg.register("log list", log_list, default=True, desc="the last 50 sessions")
    reg.register("log show", log_show, args="ID", nargs=(1, 1), desc="one session's record")
    reg.register("log export", log_export, args="ID", nargs=(1, 1),
                 desc="one session's rows as CSV lines (Ctrl-C stops it)")
    reg.register("log audit", log_audit, args="[N]", nargs=(0, 1),
                 desc=f"the newest N rows of the audit trail (default {AUDIT_LAST}): logins, "
                      "lockouts, changes with old -> new")
