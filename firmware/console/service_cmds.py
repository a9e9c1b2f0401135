"""``selftest``, ``fault`` and ``log``: the self-test on demand, the latched fault and its
clearing (only after a self-test passes), and the treatment log."""

from __future__ import annotations


def register(con) -> None:
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
        return [f"fault: {f['code']}", f"message: {f['message']}",
                f"at_s: {f['at_s']:.3f}"], "OK"

    def fault_clear(args):
        c = p.controller
        if c.fault is None:
            return ["no fault to clear"], "OK"

        def finish(result, error):
            if error is not None:
                return [str(error)], "ERR SELFTEST: the self-test failed; the fault stays"
            c.clear_fault(p.clock.now())
            return ["self-test passed; fault cleared"], "OK"
        return con.procedure(c.selftest_sequence(), finish)

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
        return [f"{k}: {v}" for k, v in found[1].items()], "OK"

    def log_export(args):
        found, error = session_row(args[0])
        if found is None:
            return [], error
        return p.log.export_csv(found[0]).splitlines(), "OK"

    reg = con.registry
    reg.register("selftest", selftest, desc="run the self-test now (the output must be idle)")
    reg.command("fault", "the latched fault, and its clearing after a self-test")
    reg.register("fault show", fault_show, default=True, desc="the latched fault, if any")
    reg.register("fault clear", fault_clear,
                 desc="run the self-test; clear the fault only if it passes")
    reg.command("log", "the treatment log (export: CSV lines)")
    reg.register("log list", log_list, default=True, desc="the last 50 sessions")
    reg.register("log show", log_show, args="ID", nargs=(1, 1), desc="one session's record")
    reg.register("log export", log_export, args="ID", nargs=(1, 1),
                 desc="one session's rows as CSV lines")
