"""The simulator's tools: what a developer, CI and a reviewer run on a computer, and what never
ships on the unit.

- :mod:`.backend`: the simulated unit's hardware (the real HAL on :class:`sim.rig.SimRig`);
- :mod:`.simrun`: ``ionto sim SCENARIO.toml``, a scenario against the whole device program;
- :mod:`.simdevice`: the controller and HAL on the simulator without the program around them
  (the tests' and benchmarks' harness);
- :mod:`.campaign`: random campaigns and their safety properties;
- :mod:`.faultmatrix`: every catalogue fault injected in every phase;
- :mod:`.plots` and :mod:`.thinning`: the session's picture;
- :mod:`.ttypanel`: the panel in a terminal for ``ionto device --sim``.

The layers (``tests/test_layers.py``): this package may import every other one; of the
shipped packages only ``firmware/cli.py`` and ``firmware/run_device.py`` import it, and only
inside the functions that serve ``--sim`` and the ``sim`` and ``log plot`` commands, so the
program on the Pi (``ionto device`` without ``--sim``) loads nothing of it nor of ``sim/``.
"""
