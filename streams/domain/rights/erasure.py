"""Erasure (PIPL art. 47): remove what no retention rule keeps (pure).

Contract of :func:`erase`, applied to one borrower's fold state:

* activity data (purchases, travel, food orders: the per-day buckets and which platforms
  sent them) is always removed;
* credit data follows the rule the operator configured (setting ``erasure_credit``):
  ``keep-negative`` (the default) keeps each loan holding negative information
  (a late, defaulted or written-off record), which the law keeps for five years after
  the loan ends (征信业管理条例 art. 16; the fold's pruning drops it then), and removes
  the others; ``keep-credit`` keeps every loan (a jurisdiction where lenders' reports
  must stay); ``erase-all`` removes every loan;
* provenance is recomputed from what is left; the dedup memory of removed records
  (event ids, no personal data) stays, so a resend is still recognised;
* the profile version grows by one: what banks receive next is a new version.

:func:`holds_data` says whether anything is left to show a bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from streams.domain.profile.state import L_RECS, R_KEY, R_T, ProfileState, is_delinquent

ErasureRule = Literal["keep-negative", "keep-credit", "erase-all"]
RULES: Final = ("keep-negative", "keep-credit", "erase-all")


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure removed and kept."""

    loans_removed: int
    loans_kept: int
    activity_days_removed: int

    def describe(self, rule: ErasureRule) -> str:
        kept = (
            f"kept {self.loans_kept} loan(s) under rule {rule}"
            if self.loans_kept
            else "nothing kept"
        )
        return (
            f"erased {self.loans_removed} loan(s) and {self.activity_days_removed} day(s) "
            f"of activity; {kept}"
        )


def holds_data(state: ProfileState) -> bool:
    """Whether the state holds anything a profile is made of."""
    return bool(state.loans or state.act_days)


def erase(state: ProfileState, rule: ErasureRule) -> Erased:
    """Apply the erasure to ``state`` in place (see the module doc)."""
    days = len(state.act_days)
    state.act_days.clear()
    state.act_platforms.clear()
    if rule == "keep-credit":
        gone: list[str] = []
    elif rule == "erase-all":
        gone = list(state.loans)
    else:
        gone = [k for k, loan in state.loans.items() if not any(map(is_delinquent, loan[L_RECS]))]
    for lkey in gone:
        for rec in state.loans.pop(lkey)[L_RECS]:
            if state.lidx.get(rec[R_KEY]) == lkey:
                del state.lidx[rec[R_KEY]]
    newest: dict[str, int] = {}
    first = -1
    for lkey, loan in state.loans.items():
        platform = lkey.partition("\0")[0]
        for rec in loan[L_RECS]:
            t = rec[R_T]
            newest[platform] = max(newest.get(platform, t), t)
            first = t if first < 0 else min(first, t)
    state.platforms = newest
    state.first_seen = first
    state.credit_memo = state.activity_memo = None
    state.version += 1
    return Erased(len(gone), len(state.loans), days)
