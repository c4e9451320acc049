"""Signals as ways out (backend/exits), in this process: no PostgreSQL, no subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from stackdeck.backend import exits


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[exits._State]:
    """Each test its own state; the watchdogs a signal starts never fire in pytest, and the
    SIGCONT handler a hang-up resets is put back."""
    state = exits._State()
    monkeypatch.setattr(exits, "_state", state)
    sigcont = signal.getsignal(signal.SIGCONT)
    yield state
    for watchdog in (state.watchdog, state.quit_watchdog):
        if watchdog is not None:
            watchdog.cancel()
    signal.signal(signal.SIGCONT, sigcont)


def test_sigterm_raises_signalled_and_the_handlers_are_restored_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(exits.Signalled) as raised, exits.handle_signals():
        signal.raise_signal(signal.SIGTERM)
    assert raised.value.code == 128 + signal.SIGTERM
    assert raised.value.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_during_an_uninterrupted_step_takes_effect_when_it_ends() -> None:
    finished = False
    with pytest.raises(exits.Signalled), exits.handle_signals(), exits.uninterrupted():
        signal.raise_signal(signal.SIGTERM)
        finished = True
    assert finished


def test_a_second_signal_does_not_cut_the_way_out_short() -> None:
    with exits.handle_signals():
        with pytest.raises(exits.Signalled):
            signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)  # the clean-up runs on, undisturbed


def test_sighup_goes_to_whoever_handles_sigterm_now(fresh_state: exits._State) -> None:
    received: list[int] = []

    def theirs(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    with exits.handle_signals():
        before = signal.signal(signal.SIGTERM, theirs)  # uvicorn's, while it serves
        try:
            signal.raise_signal(signal.SIGHUP)
        finally:
            signal.signal(signal.SIGTERM, before)
    assert received == [signal.SIGTERM]
    assert fresh_state.watchdog is not None  # and if their shutdown hangs, it is ended


def test_run_cancels_the_main_task_so_its_async_clean_up_runs_then_raises_signalled(
    fresh_state: exits._State,
) -> None:
    steps: list[str] = []

    async def command() -> str:
        try:
            # The signal lands mid-step (amid a driver's bookkeeping, say): the step runs on
            # to its next await, where the task is cancelled.
            signal.raise_signal(signal.SIGTERM)
            steps.append("step finished")
            await asyncio.sleep(10)
            return "finished"
        finally:
            await asyncio.sleep(0)  # a rollback, a connection's close
            steps.append("cleaned up")

    with pytest.raises(exits.Signalled) as raised, exits.handle_signals():
        exits.run(command())
    assert raised.value.name == "SIGTERM"
    assert steps == ["step finished", "cleaned up"]
    assert fresh_state.quit_watchdog is None  # only the way out's GRACE bounds the clean-up


def test_run_reports_the_signal_whatever_the_cancelled_command_ended_with() -> None:
    async def command() -> None:
        try:
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            # As SQLAlchemy does when the cancel lands as its pool connects.
            raise RuntimeError("This Connection is closed") from None

    with pytest.raises(exits.Signalled), exits.handle_signals():
        exits.run(command())


def test_run_without_a_signal_returns_what_the_command_returns() -> None:
    async def command() -> int:
        await asyncio.sleep(0)
        return 7

    with exits.handle_signals():
        assert exits.run(command()) == 7


def test_a_signal_ignored_at_start_stays_ignored_unless_named() -> None:
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        with exits.handle_signals():
            signal.raise_signal(signal.SIGHUP)  # nothing happens
        with pytest.raises(exits.Signalled), exits.handle_signals((signal.SIGHUP,)):
            signal.raise_signal(signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, before)


def test_divert_hands_the_signal_over_and_falls_back_to_raising() -> None:
    seen: list[int] = []

    def quit_app(signum: int) -> bool:
        seen.append(signum)
        return True

    with exits.divert(quit_app):
        signal.raise_signal(signal.SIGTERM)
    assert seen == [signal.SIGTERM]


def test_divert_raises_when_the_receiver_cannot_act() -> None:
    with pytest.raises(exits.Signalled), exits.divert(lambda signum: False):
        signal.raise_signal(signal.SIGTERM)


def test_a_hung_up_terminal_is_detached_though_it_no_longer_says_it_is_one() -> None:
    saved = os.dup(1), os.dup(2)
    terminal, its_end = os.openpty()
    try:
        os.dup2(its_end, 1)
        os.dup2(its_end, 2)
        with pytest.raises(exits.Signalled), exits.handle_signals():
            os.close(terminal)  # the terminal closes: writes to it fail, isatty() says False
            signal.raise_signal(signal.SIGHUP)
        # Textual's output thread writes on; a failed write would end it for good.
        assert os.write(1, b"drawn after the hang-up") > 0
        assert os.write(2, b"logged after the hang-up") > 0
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, its_end):
            os.close(fd)


def test_the_sigcont_that_comes_with_a_hang_up_resumes_nothing() -> None:
    resumed: list[int] = []

    def resume(signum: int, frame: FrameType | None) -> None:
        resumed.append(signum)  # Textual's: it starts its output again

    signal.signal(signal.SIGCONT, resume)
    with exits.divert(lambda signum: True):
        signal.raise_signal(signal.SIGHUP)
        signal.raise_signal(signal.SIGCONT)  # the kernel sends both
    assert resumed == []


def test_an_app_stuck_on_its_way_out_meets_the_last_resort_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forced: list[tuple[int, float]] = []
    done = threading.Event()

    def last_resort(signum: int, grace: float) -> None:  # releases, then os._exit
        forced.append((signum, grace))
        done.set()

    monkeypatch.setattr(exits, "_last_resort", last_resort)
    monkeypatch.setattr(exits, "QUIT_GRACE", 0.01)
    with exits.divert(lambda signum: True):
        signal.raise_signal(signal.SIGHUP)
        # The app does not close (its exit blocked on the dead terminal, say).
        assert done.wait(timeout=10)
    assert forced == [(signal.SIGHUP, 0.01)]  # not GRACE later


def test_an_app_that_closes_leaves_the_rest_of_the_way_out_under_grace(
    fresh_state: exits._State,
) -> None:
    with exits.divert(lambda signum: True):
        signal.raise_signal(signal.SIGTERM)
        assert fresh_state.quit_watchdog is not None
    assert fresh_state.quit_watchdog is None  # the backend's graceful stop may take longer
    assert fresh_state.watchdog is not None
