"""What every scenario gets: the profile, a scratch directory, the shared receiver and
forsund, the targets to measure and the list the rows go into."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from .plans import run_tag
from .profile import Profile
from .receiver import Receiver
from .report import Row
from .target import Forsund, Target

#: Plans/s assumed for a target's first bulk creation (slow machines create faster).
FIRST_RATE_GUESS = 2_500


@attrs.define
class Context:
    """``compare``: another server the public-API scenarios also run against;
    ``main_args``: flags for the shared forsund (:meth:`main`)."""

    profile: Profile
    scratch: Path
    compare: Target | None = None
    receiver_host: str = "127.0.0.1"
    main_args: tuple[str, ...] = ()
    tag: str = attrs.field(factory=run_tag)
    rows: list[Row] = attrs.field(factory=list)
    #: lateness samples (ms) for the charts: scenario label -> target name -> samples
    lateness: dict[str, dict[str, tuple[float, ...]]] = attrs.field(factory=dict)
    _receiver: Receiver | None = None
    _main: Forsund | None = None
    _dirs: int = 0
    _create_rates: dict[str, float] = attrs.field(factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def workdir(self, name: str) -> Path:
        """A fresh directory for one forsund."""
        self._dirs += 1
        path = self.scratch / f"{self._dirs:02d}-{name}"
        path.mkdir(parents=True)
        return path

    def lead(self, target: Target, count: int) -> float:
        """Seconds from now to the first due second of ``count`` plans about to be created
        on ``target``: the profile's margin plus their creation time at half the bulk rate
        seen on that target so far (:data:`FIRST_RATE_GUESS` before any)."""
        rate = self._create_rates.get(target.name, FIRST_RATE_GUESS)
        return self.profile.margin + count / rate

    def created(self, target: Target, count: int, seconds: float) -> None:
        """Record a bulk creation on ``target`` (see :meth:`lead`)."""
        if count >= 100 and seconds > 0:
            self._create_rates[target.name] = count / seconds / 2

    def receiver(self) -> Receiver:
        if self._receiver is None:
            self._receiver = Receiver.start(self.receiver_host)
        return self._receiver

    def main(self) -> Forsund:
        """The forsund shared by precision, burst and create (mem store, default options
        and ``main_args``, plus the noop action)."""
        if self._main is None:
            self._main = Forsund.start(self.workdir("main"), self.main_args, noop=True)
        return self._main

    def targets(self) -> list[Target]:
        """The bench's own forsund, then the compared server if there is one."""
        return [self.main().target] + ([self.compare] if self.compare else [])

    def close(self) -> None:
        if self._main is not None:
            self._main.stop()
        if self._receiver is not None:
            self._receiver.close()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
