"""The state machine's document is the code's (tools/state_table.py, docs/state-machine.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_state_machine_document_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "state_table.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_the_document_shows_every_row_and_a_stale_one_is_refused(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "tools"))
    import state_table

    from controller.states import TRANSITIONS

    text = state_table.build()
    for t in TRANSITIONS:
        assert f"`{t.src}`" in text and t.action in text
        if t.dst != t.src:
            assert f"--> {t.dst}: {t.trigger}" in text
    doc = tmp_path / "state-machine.md"
    doc.write_text(text.replace("PAUSED", "HALTED", 1), encoding="utf-8")
    monkeypatch.setattr(state_table, "DOC", doc)
    monkeypatch.setattr(state_table, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["state_table.py", "--check"])
    assert state_table.main() == 1
    monkeypatch.setattr(sys, "argv", ["state_table.py"])
    assert state_table.main() == 0
    monkeypatch.setattr(sys, "argv", ["state_table.py", "--check"])
    assert state_table.main() == 0
    assert doc.read_text(encoding="utf-8") == text
