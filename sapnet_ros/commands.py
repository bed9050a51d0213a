"""What every console script shares at its edge: one-line errors, clean interrupts, exit codes.

``@command("sapnet-x")`` wraps a ``main(argv) -> int``:

- SIGTERM is turned into ``KeyboardInterrupt``, so ``kill`` and Ctrl-C take the
  same path through the tool's ``finally`` blocks (temporary files removed,
  partial outputs marked or deleted, training's ``last.pt`` saved);
- an interrupt ends in one line, ``sapnet-x: interrupted``, and exit code 130
  (128 + SIGINT, as shells report it);
- a project error (``SapnetError``) or an operating-system error (a folder that
  cannot be created, a full disk) that reaches the top ends in one line,
  ``sapnet-x: error: ...``, and exit code 2 instead of a traceback.

It lives at the bottom layer because the tools' entry points live at every
layer (``sapnet-export`` in model/, ``sapnet-build-engine`` in backends/).
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import ParamSpec

from sapnet_ros.errors import SapnetError

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
FAILED = 2

Params = ParamSpec("Params")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class DeferredInterrupts:
    """Interrupts noted instead of raised, for loops that must stop between steps (see ``deferred_interrupts``)."""

    def __init__(self) -> None:
        self.signal: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt(signal.Signals(signum).name)  # asked twice: stop now
        self.signal = signal.Signals(signum).name

    def raise_if_requested(self) -> None:
        """Raise the ``KeyboardInterrupt`` that was held back, once the work is in a consistent state."""
        if self.signal is not None:
            raise KeyboardInterrupt(self.signal)


@contextmanager
def deferred_interrupts() -> Iterator[DeferredInterrupts]:
    """Within the block, SIGINT and SIGTERM are noted (``requested``) rather than raised; a second one raises.

    Training uses it to finish the optimizer step under way and save a
    resumable checkpoint before it stops. Outside the main thread it notes nothing.
    """
    noted = DeferredInterrupts()
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = {signum: signal.signal(signum, noted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield noted
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def quiet_worker() -> None:
    """Initializer of worker processes: Ctrl-C, which reaches the whole process group, ends them at once.

    Without it each worker prints its own KeyboardInterrupt traceback; the
    parent alone reports the interrupt (and ``stop_workers`` ends the workers
    when only the parent was signalled, as by ``kill``).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_workers() -> None:
    """End this process's worker processes now (on an interrupt), rather than wait for their work."""
    for child in multiprocessing.active_children():
        child.terminate()
        child.join()


def _forget_unhandled_interrupt() -> None:
    """Clear CPython's record of an unhandled KeyboardInterrupt: this one was handled.

    CPython 3.11 records a KeyboardInterrupt that passes through ``exec`` of a
    string (rosbags compiles its deserializers that way, dataclasses too) as
    unhandled even when it is caught later, and then ends the process by SIGINT
    instead of with the exit code the tool returns. Where the record is not
    exported (other versions), nothing is done.
    """
    with suppress(AttributeError, ValueError):
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0


def error_line(err: BaseException) -> str:
    """The first line of an error's message (OSError text includes the path)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def command(prog: str) -> Callable[[Callable[Params, int]], Callable[Params, int]]:
    """Decorate a console script's ``main``: interrupts exit 130, stray errors exit 2, each with one line."""

    def decorate(main: Callable[Params, int]) -> Callable[Params, int]:
        @functools.wraps(main)
        def run(*args: Params.args, **kwargs: Params.kwargs) -> int:
            try:
                with sigterm_as_interrupt():
                    return main(*args, **kwargs)
            except KeyboardInterrupt as err:
                how = f" by {err.args[0]}" if err.args else ""
                print(f"{prog}: interrupted{how}", file=sys.stderr)
                _forget_unhandled_interrupt()
                return INTERRUPTED
            except (SapnetError, OSError) as err:
                print(f"{prog}: error: {error_line(err)}", file=sys.stderr)
                return FAILED

        return run

    return decorate
