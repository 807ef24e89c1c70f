"""The platforms of the load simulator: what each lends and which activity it reports.

Contract: :data:`CATALOG` holds the named platforms, each a :class:`PlatformSpec` (a
``kind`` such as "marketplace" or "online lender", the lender name on its loans, the
products it lends, and its activity as ``(kind, category, min, max)`` with amounts in
whole currency units). :func:`platform_specs` gives the first ``count`` of them, then
as many generic online lenders as needed, all names prefixed: the same arguments always
give the same platforms in the same order. Pure, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.wire.events import ActivityKind, Product


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """What a kind of platform lends and which activity it reports (amounts in units)."""

    name: str
    kind: str
    lender: str
    products: tuple[Product, ...]
    activity: tuple[tuple[ActivityKind, str, int, int], ...]  # kind, category, min, max amount


def _spec(name: str, kind: str, lender: str, products: str, activity: str) -> PlatformSpec:
    """A spec from compact text: products space-separated, activity ``KIND:category:lo:hi;``."""
    acts = []
    for item in activity.split(";"):
        act, category, lo, hi = item.strip().split(":")
        acts.append((ActivityKind(act), category, int(lo), int(hi)))
    return PlatformSpec(
        name, kind, lender, tuple(Product(p) for p in products.split()), tuple(acts)
    )


CATALOG: tuple[PlatformSpec, ...] = (
    _spec(
        "shopmart", "marketplace", "ShopMart Pay Later AB", "BNPL CONSUMER_INSTALMENT",
        "PURCHASE:electronics:40:900; PURCHASE:fashion:15:200; PURCHASE:home:10:400;"
        "ACCOUNT_CHANGE:address:0:0",
    ),
    _spec(
        "paywave", "payment app", "PayWave Credit Ltd", "CREDIT_LINE BNPL",
        "BILL_PAYMENT:utilities:30:250; BILL_PAYMENT:telecom:10:80;"
        "PURCHASE:groceries:5:150; TRAVEL_BOOKING:flights:60:1200",
    ),
    _spec(
        "zipride", "ride-hailing", "ZipRide Driver Finance", "SME CASH_LOAN",
        "RIDE:rides:4:60; TRAVEL_BOOKING:airport transfer:25:90",
    ),
    _spec(
        "dishdash", "food delivery", "DishDash Later", "BNPL",
        "FOOD_ORDER:restaurants:8:90; FOOD_ORDER:groceries:15:120",
    ),
    _spec(
        "quickcash", "online lender", "QuickCash Finance AS", "CASH_LOAN CONSUMER_INSTALMENT",
        "ACCOUNT_CHANGE:contact details:0:0",
    ),
    _spec(
        "lendly", "online lender", "Lendly Capital Oy", "CASH_LOAN CREDIT_LINE SME",
        "ACCOUNT_CHANGE:bank account:0:0",
    ),
)  # fmt: skip


def platform_specs(count: int, prefix: str = "") -> list[PlatformSpec]:
    """The first ``count`` catalog platforms, then generic online lenders; names prefixed."""
    specs = list(CATALOG[:count])
    for i in range(len(specs), count):
        specs.append(
            _spec(
                f"lender-{i + 1}", "online lender", f"Lender {i + 1} Finance", "CASH_LOAN",
                "ACCOUNT_CHANGE:contact details:0:0",
            )
        )  # fmt: skip
    return [PlatformSpec(prefix + s.name, s.kind, s.lender, s.products, s.activity) for s in specs]
