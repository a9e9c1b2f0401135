"""Who may import whom (the README's "Layout"), checked on the source: every ``import`` of every
module, at any depth (a lazy import inside a function counts too), against the allowed
directions. And the production program, ``ionto device`` on the Pi, loads nothing of the
simulator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the project's packages and the ones each may import
ALLOWED = {
    "controller": set(),
    "hardware": set(),
    "hal": {"hardware"},
    "sim": {"hardware"},
    # what ships on the unit: nothing of the simulator; the simulator's tools only from the two
    # entry points, inside the functions that serve --sim and the developer's commands (below)
    "firmware": {"controller", "hal", "hardware", "simtools"},
    "simtools": {"controller", "hal", "hardware", "sim", "firmware"},
}
#: the shipped modules that may reach the simulator's tools, and only lazily
SIMTOOLS_DOORS = {"firmware/cli.py", "firmware/run_device.py"}


def _imports(path: Path) -> set[str]:
    """The project packages a module imports (absolute imports; relative ones stay inside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_every_package_imports_only_what_the_layers_allow():
    broken = []
    for pkg, allowed in ALLOWED.items():
        for path in sorted((ROOT / pkg).rglob("*.py")):
            bad = _imports(path) - allowed - {pkg}
            if bad:
                broken.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not broken, "\n".join(broken)


def _top_level_imports(path: Path) -> set[str]:
    """The project packages a module imports at its top level (when it is imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_the_shipped_program_reaches_the_simulators_tools_only_through_its_two_doors():
    """firmware/ imports simtools/ only in cli.py and run_device.py, and there only inside a
    function (the ``--sim`` path, ``ionto sim``, ``ionto log plot``): importing any shipped
    module loads nothing of the simulator."""
    broken = []
    for path in sorted((ROOT / "firmware").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "simtools" in _imports(path) and rel not in SIMTOOLS_DOORS:
            broken.append(f"{rel} imports simtools")
        if "simtools" in _top_level_imports(path):
            broken.append(f"{rel} imports simtools at its top level")
    assert not broken, "\n".join(broken)


def test_the_check_sees_a_lazy_import(tmp_path):
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    import controller.session\n", encoding="utf-8")
    assert _imports(lazy) == {"controller"}


def test_the_device_program_on_the_pi_loads_nothing_of_the_simulator(tmp_path):
    """``ionto device`` without ``--sim``, on a machine without the hardware, ends with its hint
    (exit 1); with it and the modules the program runs on the Pi imported (the device program,
    the console and its UART transport, the Pi backend), no module of sim/ is loaded."""
    code = (
        "import sys\n"
        "from firmware.cli import main\n"
        f"rc = main(['device', '--data-dir', {str(tmp_path)!r}])\n"
        "import firmware.device, firmware.console, firmware.run_device, firmware.backends\n"
        "import hal.pi\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sim', 'simtools'))\n"
        "print('SIM-MODULES', loaded)\n"
        "sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "SIM-MODULES []" in out.stdout, out.stdout
    assert "ionto device:" in out.stderr and "--sim" in out.stderr, out.stderr
