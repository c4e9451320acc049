"""Every way out of a process runs its clean-up: SIGTERM, SIGHUP and SIGINT end it the way an
exception does, so the `finally` blocks release what was started (the embedded PostgreSQL).

A command installs the handlers once, around everything it starts (`handle_signals`). The
console diverts them while its app runs (`divert`), so a signal quits the app gracefully.
A step that must not be cut halfway (starting or releasing the embedded server) runs
`uninterrupted()`: a signal that arrives meanwhile takes effect when the step ends. An async
command runs under `run()`: a signal cancels its task, so its clean-up runs at an await.

SIGHUP means the terminal is gone: output is sent to /dev/null first (a write to a hung-up
terminal fails, and a failed write must not stop the clean-up), then it is handled as SIGTERM,
by whoever handles SIGTERM at that moment (uvicorn while it serves, for instance). The SIGCONT
the kernel sends with the hang-up resumes nothing: there is no terminal to go back to.

A terminal that closes signals only its shell; a console also watches for its terminal
(`watch_terminal`), so it quits when the terminal ends unsignalled.

If the way out hangs, a watchdog runs the last-resort releases (`on_last_resort`) and ends
the process: nothing that was started outlives it. A diverted signal is watched closer: the
app it quits must be gone within `QUIT_GRACE`, or it is stuck, and the watchdog acts then
(an app's exit on a hung-up terminal can block for good inside the UI library).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Longer than any graceful shutdown (uvicorn waits up to 10 s for requests in flight).
GRACE = 15.0
# For the app a diverted signal quits: closing it takes well under a second; the graceful
# shutdown of what it used comes after, under GRACE.
QUIT_GRACE = 5.0


class Signalled(SystemExit):
    """The process was asked to stop by a signal; `code` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


@dataclass
class _State:
    # Called with the signal number instead of raising; returns False when it cannot act.
    diverted_to: Callable[[int], bool] | None = None
    quit_grace: bool = True
    deferring: int = 0
    pending: int | None = None
    stopping: bool = False
    releases: list[Callable[[], None]] = field(default_factory=list)
    watchdog: threading.Timer | None = None
    # Armed when a diverted signal is acted on, disarmed when the diverted block ends.
    quit_watchdog: threading.Timer | None = None
    # stdout and stderr, where they were the terminal when the handlers went in.
    terminal: tuple[int, ...] | None = None


_state = _State()


@contextmanager
def handle_signals(even_if_ignored: tuple[int, ...] = ()) -> Iterator[None]:
    """Within the block, SIGTERM, SIGHUP and SIGINT raise `Signalled` in the main thread.
    A signal ignored when the process started stays ignored (`nohup stackdeck serve &`),
    unless it is named in `even_if_ignored`."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals belong to the main thread; its own handlers are in place
        return
    if _state.terminal is None:
        # Asked now, while the terminal is there: once it hangs up, isatty() says False.
        _state.terminal = tuple(fd for fd in (1, 2) if os.isatty(fd))
    previous = {
        signum: signal.signal(signum, _handle)
        for signum in SIGNALS
        if signum in even_if_ignored or signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def divert(to: Callable[[int], bool], quit_grace: bool = True) -> Iterator[None]:
    """Within the block a signal calls `to(signum)` (which returns False when it cannot act,
    and the signal then raises as usual) instead of raising; once it has acted, the block
    must end within QUIT_GRACE (unless `quit_grace` is False: within GRACE, as every way
    out). SIGHUP is handled even when it was ignored at start: a console cannot outlive its
    terminal."""
    with handle_signals(even_if_ignored=(signal.SIGHUP,)):
        before, _state.diverted_to = _state.diverted_to, to
        before_grace, _state.quit_grace = _state.quit_grace, quit_grace
        try:
            yield
        finally:
            _state.diverted_to = before
            _state.quit_grace = before_grace
            if _state.quit_watchdog is not None:
                _state.quit_watchdog.cancel()
                _state.quit_watchdog = None


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A step a signal must not cut halfway: the signal takes effect once it is done.
    Only the main thread runs signal handlers, so a step on another thread needs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
        if _state.deferring == 0 and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            _act(signum)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` for a command: a signal cancels the main task, so its clean-up runs at
    an await, where async clean-up works (not from whatever frame the signal cut into: a
    driver's callback, the loop's own code), and `Signalled` follows once the loop is closed."""
    import asyncio  # here: `stackdeck` imports this module before it spawns its backend

    received: list[int] = []

    async def cancellable() -> T:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None

        def cancel(signum: int) -> bool:
            received.append(signum)
            loop.call_soon_threadsafe(task.cancel)
            return True

        with divert(cancel, quit_grace=False):
            return await main

    try:
        result = asyncio.run(cancellable())
    except BaseException:
        # Cancelled, it may end with another error (a driver cut off as it connects closes
        # the connection under its caller): the signal is what ended it.
        if not received:
            raise
    if received:
        raise Signalled(received[0])
    return result


def on_last_resort(release: Callable[[], None]) -> Callable[[], None]:
    """Register what the watchdog releases if the way out hangs; call the result to forget it."""
    _state.releases.append(release)

    def forget() -> None:
        with suppress(ValueError):
            _state.releases.remove(release)

    return forget


def _handle(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGHUP:
        detach_from_terminal()
        # The kernel sends SIGCONT with the hang-up, and Textual answers it by starting its
        # output again, on the terminal that is gone.
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        current = signal.getsignal(signal.SIGTERM)
        if callable(current) and current is not _handle:
            # Someone else handles SIGTERM now (uvicorn, an asyncio loop): theirs to act on.
            _start_watchdog(signum)
            signal.raise_signal(signal.SIGTERM)
            return
    if _state.deferring:
        _state.pending = _state.pending or signum
        return
    _act(signum)


def _act(signum: int) -> None:
    if _state.stopping:
        return  # already on the way out; a second signal must not cut the clean-up short
    _start_watchdog(signum)
    if _state.diverted_to is not None and _state.diverted_to(signum):
        _state.stopping = True
        if _state.quit_grace:
            _state.quit_watchdog = _watchdog(QUIT_GRACE, signum)
        return
    _state.stopping = True
    raise Signalled(signum)


def watch_terminal(every: float = 1.0) -> None:
    """A SIGHUP to this process when its terminal goes away. Closing a terminal signals its
    session leader (the shell), and the shell passes it on only if it dies of it: a shell
    that ignores SIGHUP leaves the programs it ran with a terminal that reads as empty."""
    if not _has_terminal():
        return  # nothing to lose (a pipe, a service)

    def watch() -> None:
        while _has_terminal():
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGHUP)

    threading.Thread(target=watch, name="stackdeck-terminal", daemon=True).start()


def _has_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def detach_from_terminal() -> None:
    """Send output meant for the terminal to /dev/null: after SIGHUP, writes to it fail, and
    a thread that dies of it (Textual's writer) leaves the app's exit waiting on its queue.
    A hung-up terminal no longer says it is one: its fds are those noted by `handle_signals`.
    (For a process whose SIGHUP handler is not this module's, uvicorn's supervisor say.)"""
    terminal = {fd for fd in (1, 2) if os.isatty(fd)}.union(_state.terminal or ())
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in sorted(terminal):
            with suppress(OSError):
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _start_watchdog(signum: int) -> None:
    if _state.watchdog is None:
        _state.watchdog = _watchdog(GRACE, signum)


def _watchdog(grace: float, signum: int) -> threading.Timer:
    watchdog = threading.Timer(grace, _last_resort, args=(signum, grace))
    watchdog.daemon = True
    watchdog.start()
    return watchdog


def _last_resort(signum: int, grace: float) -> None:
    """The graceful way out did not finish: release what is registered, then end at once."""
    for release in list(_state.releases):
        with suppress(Exception):
            release()
    with suppress(OSError, ValueError):
        print(
            f"stackdeck: forced exit {grace:.0f}s after {signal.Signals(signum).name}",
            file=sys.stderr,
        )
    os._exit(128 + signum)
