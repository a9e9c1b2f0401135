"""The console's ``key=value`` arguments, parsed and checked with a message that names what is
wrong (a value is quoted at most 16 characters long, a key 32)."""

from __future__ import annotations


def key_values(args: list[str], allowed) -> dict[str, str]:
    out = {}
    for a in args:
        if "=" not in a:
            raise ValueError(f"'{a[:32]}' is not key=value")
        k, v = a.split("=", 1)
        if k not in allowed:
            raise ValueError(f"unknown key '{k[:32]}'; allowed: {', '.join(allowed)}")
        out[k] = v
    return out


def parse(value: str, typ):
    """``value`` as ``typ``: a finite float, a yes/no bool, or the text itself."""
    if typ is bool:
        if value.lower() in ("yes", "true", "1", "on"):
            return True
        if value.lower() in ("no", "false", "0", "off"):
            return False
        raise ValueError(f"'{value[:16]}' is not yes or no")
    if typ is float:
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"'{value[:16]}' is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"'{value[:16]}' is not a number")
        return v
    return value
