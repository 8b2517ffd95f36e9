"""Evidence and governance: PR evidence checks, definition of done, deploy
freeze, time-boxed trials and snapshot tags.

The planner calls `find_stale_freeze` and `find_overdue_trials`; commands
that deploy or apply call `ensure_not_frozen` first.
"""

from vpm.evidence.dod import DodCheck, Policy, check_dod, read_policy
from vpm.evidence.freeze import (
    FreezeRecord,
    ensure_not_frozen,
    find_stale_freeze,
    read_freeze_record,
    set_freeze,
)
from vpm.evidence.prcheck import PullRequestCheck, check_pull_request
from vpm.evidence.snapshot import Snapshot, take_snapshot
from vpm.evidence.trials import (
    Trial,
    close_trial,
    find_overdue_trials,
    start_trial,
    trial_places,
)

__all__ = [
    "DodCheck",
    "FreezeRecord",
    "Policy",
    "PullRequestCheck",
    "Snapshot",
    "Trial",
    "check_dod",
    "check_pull_request",
    "close_trial",
    "ensure_not_frozen",
    "find_overdue_trials",
    "find_stale_freeze",
    "read_freeze_record",
    "read_policy",
    "set_freeze",
    "start_trial",
    "take_snapshot",
    "trial_places",
]
