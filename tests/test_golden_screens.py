"""The patient's screens as the emulated display's glass shows them, against the recorded images
(tests/golden/screens/, written by ``python tools/golden.py screens --record``)."""

from __future__ import annotations

import pytest

from firmware.screens import screen
from hal.display import render
from simtools import screenshots


def unpbm(data: bytes) -> list[list[int]]:
    head, _, body = data.partition(b"\n")
    size, _, bits = body.partition(b"\n")
    width, height = map(int, size.split())
    assert head == b"P4" and len(bits) == width * height // 8
    return [[(bits[y * width // 8 + x // 8] >> (7 - x % 8)) & 1 for x in range(width)]
            for y in range(height)]


@pytest.mark.parametrize("name", sorted(screenshots.VIEWS))
def test_each_screen_on_the_glass_is_as_recorded(name):
    path = screenshots.GOLDEN_DIR / f"{name}.pbm"
    assert path.exists(), "record with: python tools/golden.py screens --record"
    glass = screenshots.glass_of(screenshots.VIEWS[name])
    assert screenshots.pbm(glass) == path.read_bytes(), \
        f"{name}: the glass differs; if the change is meant, record with: python tools/golden.py " \
        "screens --record"


def test_the_recorded_image_is_the_screens_frame_read_back_and_nothing_is_left_over():
    """The images are the frames the device renders (not noise of a RAM that was not written),
    and there is one for each screen, no more."""
    for name, view in screenshots.VIEWS.items():
        rows = unpbm((screenshots.GOLDEN_DIR / f"{name}.pbm").read_bytes())
        scr = screen(view)
        frame = render(scr.lines, [(b.line, b.fraction) for b in scr.bars])
        assert all(rows[y][x] == (frame[(y >> 3) * 128 + x] >> (y & 7)) & 1
                   for y in range(64) for x in range(128)), name
        assert any(map(any, rows)), name
    assert screenshots.differences() == []
