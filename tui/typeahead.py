"""Keys typed ahead go where the keys before them left the focus: one key's journey at a time.

Textual sends each key it reads to the widget focused at that moment, and runs a widget's
binding only once the key has bubbled back up to the app through every widget's queue. A
burst (a paste, tmux send-keys, an expect script) is read in one go, so every key in it is
routed before the first is handled: after `n` the name, Tab and email went to the table the
form was opened from, and after a Tab the email still went to the name field. Here each key
waits until the one before it has been through the widget it went to, every ancestor, the
app (its binding run), and the screen that is current afterwards (a screen it opened has
composed and focused its first field).
"""

from __future__ import annotations

import time
from collections import deque

from textual import events
from textual.app import App, ReturnType
from textual.dom import DOMNode

# A key whose journey cannot be followed (its widget was removed meanwhile) must not hold
# the keyboard: the next key pressed after this long goes through.
STUCK_AFTER = 1.0


class TypeAheadApp(App[ReturnType]):
    def __init__(self) -> None:
        super().__init__()
        self._waiting_keys: deque[events.Key] = deque()
        self._key_sent_at: float | None = None  # the key on its way, when it was sent
        self._keys_sent = 0  # tells a late journey's end from the current one's

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        if self._key_sent_at is not None:
            self._waiting_keys.append(event)
            if time.monotonic() - self._key_sent_at > STUCK_AFTER:
                await self._next_key()
            return
        self._key_sent_at = time.monotonic()
        self._keys_sent += 1
        target = self.focused or self.screen
        await super().on_event(event)  # a priority binding, or forwarded to `target`
        self._follow(target, self._keys_sent)

    def _follow(self, node: DOMNode | None, key: int) -> None:
        """Queue behind the key at `node`, then at its parent, and so on up to the app:
        each queue is first in, first out, so the key has left every one before."""
        if node is None:
            # Past the app: a screen the key opened composes (and focuses) before this runs.
            screens = self.screen_stack  # empty while the app shuts down
            if not (screens and screens[-1].call_later(self.call_later, self._key_done, key)):
                self.call_later(self._key_done, key)
            return
        if not node.call_later(self._follow, node.parent, key):
            self._follow(node.parent, key)  # closing: nothing more passes through it

    async def _key_done(self, key: int) -> None:
        if key == self._keys_sent:
            await self._next_key()

    async def _next_key(self) -> None:
        self._key_sent_at = None
        if self._waiting_keys:
            await self.on_event(self._waiting_keys.popleft())
