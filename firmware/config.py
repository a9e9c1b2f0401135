"""The device's own configuration file (where its data lives, the console port), validated like
the hardware file: unknown keys, missing keys and bad values are refused with the file, the key
and what is allowed."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG_FILE = Path(__file__).with_name("config.default.toml")
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400)


class ConfigError(ValueError):
    def __init__(self, path, key, problem):
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: {key}: {problem}")


@dataclass(frozen=True)
class DeviceConfig:
    path: str
    data_dir: Path
    console_port: str
    console_baud: int
    board_file: str  # "" = the board.toml shipped with the software


SCHEMA = {
    "device": {"data_dir": str, "board_file": str},
    "console": {"port": str, "baud": int},
}


def load_config(path: Path | str | None = None) -> DeviceConfig:
    path = Path(path) if path else DEFAULT_CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(file)", f"is not valid TOML: {exc}") from None
    for section in raw:
        if section not in SCHEMA:
            raise ConfigError(path, section, f"unknown section; allowed: {', '.join(SCHEMA)}")
    values = {}
    for section, keys in SCHEMA.items():
        table = raw.get(section)
        if not isinstance(table, dict):
            raise ConfigError(path, f"[{section}]", "missing; this section is required")
        for key in table:
            if key not in keys:
                raise ConfigError(path, f"[{section}] {key}",
                                  f"unknown key; allowed keys: {', '.join(keys)}")
        for key, typ in keys.items():
            if key not in table:
                raise ConfigError(path, f"[{section}] {key}", "missing; this key is required")
            v = table[key]
            if not isinstance(v, typ) or isinstance(v, bool):
                raise ConfigError(path, f"[{section}] {key}",
                                  f"{v!r} is not a {'string' if typ is str else 'whole number'}")
            values[(section, key)] = v
    if values[("console", "baud")] not in BAUDS:
        raise ConfigError(path, "[console] baud", f"{values[('console', 'baud')]} is not "
                          f"allowed; allowed: {', '.join(map(str, BAUDS))}")
    if not values[("device", "data_dir")]:
        raise ConfigError(path, "[device] data_dir", "must not be empty")
    return DeviceConfig(str(path), Path(values[("device", "data_dir")]),
                        values[("console", "port")], values[("console", "baud")],
                        values[("device", "board_file")])
