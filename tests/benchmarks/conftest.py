"""Fixtures shared by the bench tests."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def ctrl_c_after() -> Iterator[Callable[[float], None]]:
    """``ctrl_c_after(seconds)``: a SIGINT to this process after ``seconds``, raised as KeyboardInterrupt
    even in a pytest-xdist worker (which ignores SIGINT: the controller handles Ctrl-C)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timers: list[threading.Timer] = []

    def schedule(seconds: float) -> None:
        timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
        timers.append(timer)
        timer.start()

    try:
        yield schedule
    finally:
        for timer in timers:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)
