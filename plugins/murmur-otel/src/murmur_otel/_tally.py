"""Counts kept in the emitter and reported by OpenTelemetry's asynchronous instruments.

A synchronous `Counter.add` walks the SDK's measurement path on every event; murmur's counters
change on nearly every event, so they are kept here (one dict increment) and observed at
collection time through `ObservableCounter` / `ObservableUpDownCounter` callbacks, which is
what those instruments are for. Values are cumulative, as the asynchronous instruments expect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["Tally", "TallyKey", "tally_key"]

TallyKey = tuple[tuple[str, str], ...]
"""One series: its attributes as sorted `(key, value)` pairs."""


def tally_key(attributes: Mapping[str, str]) -> TallyKey:
    """The series `attributes` names (build it once and reuse it on a hot path)."""
    return tuple(sorted(attributes.items()))


class Tally:
    """One counter's cumulative values per attribute set."""

    def __init__(self) -> None:
        self.counts: dict[TallyKey, int] = {}
        """Series -> cumulative value. A hot path adds to it directly, on a key from
        `tally_key` it built once: `counts[key] = counts.get(key, 0) + amount`."""

    def add(self, amount: int, attributes: Mapping[str, str]) -> None:
        """Add `amount` to the series `attributes` (the signature of `Counter.add`)."""
        key = tally_key(attributes)
        self.counts[key] = self.counts.get(key, 0) + amount

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """The current value of every series (called by the SDK at collection)."""
        return [Observation(value, dict(attrs)) for attrs, value in list(self.counts.items())]

    @classmethod
    def counter(
        cls, meter: Meter, name: str, unit: str, description: str, *, up_down: bool = False
    ) -> Tally:
        """A tally reported as an observable (up-down) counter called `name`."""
        tally = cls()
        create: Callable[..., object] = (
            meter.create_observable_up_down_counter if up_down else meter.create_observable_counter
        )
        create(name, callbacks=[tally.observe], unit=unit, description=description)
        return tally
