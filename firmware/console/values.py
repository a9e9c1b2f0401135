"""The console's values: ``key=value`` arguments parsed and checked with a message that names
what is wrong (a value is quoted at most 16 characters long, a key 32), and numbers printed
rounded to what they mean (a current to the microampere the ADC can tell, never the float's
last digits: ``39.6``, not ``39.599999999999994``)."""

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


def num(value, places: int = 3) -> str:
    """``value`` rounded to ``places`` decimals, without trailing zeros (``15``, ``0.15``,
    ``39.6``); ``-`` for a missing value, ``yes``/``no`` for a bool, text as it is."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.{places}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 try``, ``2 tries``: the count with the right form of the noun."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
