"""Profile configuration and event-time helpers shared by the profile fold and the oracle.

Time semantics (one place for each fact):

* Day windows are whole UTC calendar days: "in N days" at ``as_of`` means the UTC days
  ``day(as_of) - N + 1 .. day(as_of)``. Month windows are UTC calendar months counted
  the same way ("over 3 months" = this month and the two before).
* Alert windows (multi_lending, application_burst) are exact sliding windows in
  milliseconds ending at the borrower's newest event time.
* An event is *stale* when it is older than the newest applied event of its borrower by
  more than the horizon of its kind (``loan_horizon_ms`` / ``activity_horizon_days``):
  it cannot change any window read at or after that newest time. It is applied all the
  same (counted, and a loan event still reaches a loan's status and its negative data
  within retention: see ``streams.domain.profile.fold``). Horizons are deliberately conservative
  (31-day months) so that pruning never removes anything a window could still see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from streams.clock import DAY_MS

HOUR_MS = 3_600_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Profile fields a bank does not act on: changes confined to them are not "material".
PROVENANCE_FIELDS = frozenset(
    {
        "as_of_ms",
        "profile_version",
        "last_event_ms",
        "contributing_platforms",
        "borrower_id",
    }
)


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """Window lengths, alert thresholds, retention and the material-change definition.

    Window tuples are rendered as labels (``"7d"``, ``"3m"``) in the profile maps.
    """

    count_windows_days: tuple[int, ...] = (7, 30, 90)
    lender_windows_days: tuple[int, ...] = (30, 90)
    dpd_windows_months: tuple[int, ...] = (3, 12, 24)
    history_months: int = 24
    repayment_window_months: int = 12
    spend_windows_days: tuple[int, ...] = (30, 90)
    travel_window_days: int = 90
    active_window_days: int = 90
    # "negative data ages out 5 years after the event ends" (5 * 365 + 1 leap day).
    negative_retention_days: int = 1826
    multi_lending_lenders: int = 3
    multi_lending_days: int = 30
    burst_platforms: int = 3
    burst_hours: int = 24
    delinquency_step_days: int = 30
    # Spend changes are material only when they move by at least this fraction, so
    # that every coffee does not become a billed feed delivery.
    spend_material_ratio: float = 0.2
    material_ignore: frozenset[str] = PROVENANCE_FIELDS
    loan_horizon_ms: int = field(init=False, repr=False, compare=False)
    activity_horizon_days: int = field(init=False, repr=False, compare=False)
    count_labels: tuple[str, ...] = field(init=False, repr=False, compare=False)
    lender_labels: tuple[str, ...] = field(init=False, repr=False, compare=False)
    dpd_labels: tuple[str, ...] = field(init=False, repr=False, compare=False)
    spend_labels: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Derived once for the read path (streams.domain.profile.view): the longest count, lender
    # and spend windows, how many months back any month feature looks, retention in ms.
    count_max: int = field(init=False, repr=False, compare=False)
    lender_max: int = field(init=False, repr=False, compare=False)
    spend_max: int = field(init=False, repr=False, compare=False)
    months_back: int = field(init=False, repr=False, compare=False)
    retention_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        months = max(self.history_months, self.repayment_window_months, *self.dpd_windows_months)
        days = max(
            *self.count_windows_days,
            *self.lender_windows_days,
            self.multi_lending_days,
            1,
        )
        burst_days = -(-self.burst_hours // 24)
        horizon_days = max(31 * months, days, burst_days) + 1
        object.__setattr__(self, "loan_horizon_ms", horizon_days * DAY_MS)
        act = max(*self.spend_windows_days, self.travel_window_days, self.active_window_days)
        object.__setattr__(self, "activity_horizon_days", act + 1)
        # Labels of the window-keyed profile maps, computed once.
        object.__setattr__(self, "count_labels", window_labels(self.count_windows_days, "d"))
        object.__setattr__(self, "lender_labels", window_labels(self.lender_windows_days, "d"))
        object.__setattr__(self, "dpd_labels", window_labels(self.dpd_windows_months, "m"))
        object.__setattr__(self, "spend_labels", window_labels(self.spend_windows_days, "d"))
        object.__setattr__(self, "count_max", max(self.count_windows_days, default=0))
        object.__setattr__(self, "lender_max", max(self.lender_windows_days, default=0))
        object.__setattr__(self, "spend_max", max(self.spend_windows_days, default=0))
        back = max((self.history_months, *self.dpd_windows_months))
        object.__setattr__(self, "months_back", back)
        object.__setattr__(self, "retention_ms", self.negative_retention_days * DAY_MS)


# day index -> month index (year * 12 + month - 1); bounded by the days ever seen. Hot
# loops may read it directly (a miss: call month_of_day), but only month_of_day writes.
MONTH_OF_DAY: dict[int, int] = {}


def month_of_day(day: int) -> int:
    """UTC calendar month index (``year * 12 + month - 1``) of a day index since epoch."""
    m = MONTH_OF_DAY.get(day)
    if m is None:
        d = date.fromordinal(day + _EPOCH_ORDINAL)
        m = d.year * 12 + d.month - 1
        if len(MONTH_OF_DAY) > 200_000:  # a safety valve, never reached by real dates
            MONTH_OF_DAY.clear()
        MONTH_OF_DAY[day] = m
    return m


def day_start_of_date(d: date) -> int:
    """Epoch ms of 00:00 UTC on ``d``."""
    return (d.toordinal() - _EPOCH_ORDINAL) * DAY_MS


def date_of_ms(ms: int) -> date:
    """UTC calendar date of an epoch-ms instant."""
    return date.fromordinal(ms // DAY_MS + _EPOCH_ORDINAL)


def delinquency_level(dpd: int, step_days: int) -> int:
    """0 when current, 1 for 1..step-1 days late, then one level per step up to 7."""
    if dpd <= 0:
        return 0
    return 1 + min(dpd // step_days, 6)


def level_label(level: int, step_days: int) -> str:
    """Human-readable range of a delinquency level, e.g. ``30-59``."""
    if level == 0:
        return "current"
    if level == 1:
        return f"1-{step_days - 1}"
    if level >= 7:
        return f"{6 * step_days}+"
    lo = (level - 1) * step_days
    return f"{lo}-{lo + step_days - 1}"


def metro2_char(dpd: int) -> str:
    """Metro 2 style status of a month's worst days past due: 0 current, 1..6 for 30..180+."""
    return "0123456"[min(max(dpd, 0) // 30, 6)]


def window_labels(windows: tuple[int, ...], unit: str) -> tuple[str, ...]:
    """Labels of a window tuple, e.g. ``(7, 30) -> ("7d", "30d")``."""
    return tuple(f"{w}{unit}" for w in windows)


DEFAULT_CONFIG = ProfileConfig()
