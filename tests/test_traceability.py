"""The hazard-to-test matrix is complete and up to date (tools/trace_hazards.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_hazard_has_a_test_and_the_matrix_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "trace_hazards.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_the_tool_reports_unknown_hazards_and_untested_ones(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "tools"))
    import trace_hazards

    (tmp_path / "docs" / "safety").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "docs" / "safety" / "hazards.toml").write_text(
        '[H-A]\ntitle = "a"\n[H-B]\ntitle = "b"\n')
    (tmp_path / "tests" / "test_x.py").write_text(
        'import pytest\n@pytest.mark.hazard("H-A", "H-Z")\ndef test_one():\n    assert True\n')
    monkeypatch.setattr(trace_hazards, "ROOT", tmp_path)
    monkeypatch.setattr(trace_hazards, "REGISTRY", tmp_path / "docs/safety/hazards.toml")
    text, problems = trace_hazards.build()
    assert "test_x.py::test_one names unknown hazard H-Z" in problems
    assert any(p.startswith("H-B") and "has no test" in p for p in problems)
    assert "| H-A | a | `test_x.py::test_one` |" in text
