"""The engine's settings: one frozen value, built from the service's options by
:meth:`EngineSettings.from_options`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ..options import Options

log = logging.getLogger(__package__)  # "forsun.engine", as the log lines always said

#: Largest accepted ``claim_ahead``: the claim for S follows the processing of S - 1.
MAX_CLAIM_AHEAD = 0.9


@attrs.frozen(slots=True)
class EngineSettings:
    """What the engine is told by its options (the option of each field in brackets).

    - ``workers``: actions running at once, further firings queue (``--action-workers``);
    - ``action_timeout``: seconds before a running action is cancelled and retried;
    - ``lease_margin``: a claim is leased for ``action_timeout + lease_margin`` seconds;
    - ``retry_delay``, ``retry_rate``, ``retry_max``: retry n (1, 2, ...) of a failed
      occurrence comes :meth:`retry_delay_of` n seconds after the failure, at most
      ``retry_max`` retries (``--retry-delay-seconds``, ``--retry-delay-rate``,
      ``--retry-max-count``);
    - ``max_catchup``: missed seconds processed one by one after downtime;
    - ``status_expried``: seconds a finished plan stays readable (0: removed at once);
    - ``claim_ahead``: seconds before a boundary at which its second is claimed (0: at it).
    """

    workers: int = 4096
    action_timeout: float = 120.0
    lease_margin: float = 30.0
    retry_delay: float = 3.0
    retry_rate: float = 1.0
    retry_max: int = 3
    max_catchup: int = 86400
    status_expried: int = 0
    claim_ahead: float = 0.1

    @property
    def lease_seconds(self) -> float:
        return self.action_timeout + self.lease_margin

    def retry_delay_of(self, n: int) -> float:
        """Seconds between a failure and retry ``n`` (1, 2, ...): ``retry_delay * (1 +
        retry_rate * n)``, the original forsun's formula (6, 9, 12 s by default)."""
        return self.retry_delay * (1 + self.retry_rate * n)

    @classmethod
    def from_options(cls, options: Options) -> EngineSettings:
        """The settings of ``options``; ``claim_ahead`` outside 0..:data:`MAX_CLAIM_AHEAD`
        is clamped into it, with a warning."""
        claim_ahead = min(max(0.0, float(options.claim_ahead)), MAX_CLAIM_AHEAD)
        if claim_ahead != float(options.claim_ahead):
            log.warning("claim_ahead=%s is outside 0..%g; using %g", options.claim_ahead,
                        MAX_CLAIM_AHEAD, claim_ahead)
        return cls(workers=max(1, int(options.action_workers)),
                   action_timeout=float(options.action_timeout),
                   lease_margin=float(options.lease_margin),
                   retry_delay=float(options.retry_delay_seconds),
                   retry_rate=float(options.retry_delay_rate),
                   retry_max=int(options.retry_max_count),
                   max_catchup=max(1, int(options.max_catchup_seconds)),
                   status_expried=int(options.status_expried),
                   claim_ahead=claim_ahead)
