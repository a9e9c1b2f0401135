"""The device program and composition root: picks a backend explicitly, builds the HAL, the
controller, the panel, the console and the treatment log, and runs the loop."""

__version__ = "0.1.0"
