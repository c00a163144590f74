"""Contract payments from a customer's contract signals: the shared rule (winback_shared.contracts).

Risk's signals stored before migration 0005 carry a contract's end date only in `label`; it is
read from there when `ends_on` is absent, then the shared rule applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from winback_risk.domain.facts import Signal
from winback_shared.contracts import CONTRACT_KINDS, ContractRun, day_of
from winback_shared.contracts import contract_runs as _runs


def contract_runs(signals: Sequence[Signal]) -> list[ContractRun]:
    """Every run of every contract in the signals (in time order), with its end as far as known."""
    return _runs(
        [
            dataclasses.replace(s, ends_on=day_of(s.label)) if s.ends_on is None and s.label else s
            for s in signals
            if s.kind in CONTRACT_KINDS
        ]
    )
