"""A backfill's delivery groups in one silver pass, when that gives exactly what one run per group gives.

After an outage a drop folder holds many hourly groups. Run group by group, silver pays its fixed cost (staging,
the gate, a MERGE per table) once per group; one pass over all of them pays it once. Most of silver does not
care: SCD2 versions are ordered by delivery time, quarantine is per row, the latest delivery of a key wins. What
does care is checked here before anything is written, and the pass judges each row as of its own group:

- reference checks: an offline sale's agent and branch must be known *by its group* (a row of a later group does
  not vouch for it) — :func:`silver.sales_transactions.with_reference_checks` with each key's first group;
- ``fail`` rules hold per group (:func:`check_fail_rules`): one bad hour stops the run as it would alone;
- a sale delivered by two groups is merged once per group, keeping the first of equal contents: the pass
  stops before the second group (:func:`check_keys_in_one_group`);
- an empty city is filled from its own group and what silver holds by then: the pass stops before a group
  whose answer could differ (:func:`city_fill_differs`).

A refusal (:class:`NotCombinable`) comes before the first write and names the first group that could end
otherwise; the caller makes the groups before it one pass and starts the next pass with that group (by then
silver holds what the earlier groups brought, as it would for the group's own run).
"""

from __future__ import annotations

from collections import defaultdict

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from qlake.quality import rule_counts_by
from silver.context import SilverContext


class NotCombinable(Exception):
    """Rows of ``group`` (1 = the pass's first) could end differently in one pass with the groups before it than
    in a run of their own after them (the message says why). Nothing was written; the groups before it still
    make one pass."""

    def __init__(self, group: int, reason: str):
        super().__init__(reason)
        self.group = group


def check_fail_rules(ctx: SilverContext, flagged: DataFrame, table: str, suite: str) -> None:
    """Each group's rows hold every ``fail`` rule of the suite on their own (its ``mostly`` per group)."""
    rules = [rule for rule in ctx.validator.rules(suite) if rule.action == "fail"]
    for group, results in sorted(rule_counts_by(flagged, rules, ctx.delivery_group(), ctx.params).items()):
        broken = [r.rule for r in results if not r.success]
        if broken:
            raise NotCombinable(group, f"it breaks {table}'s fail rule {', '.join(broken)}")


def check_keys_in_one_group(ctx: SilverContext, good: DataFrame, key: str, table: str) -> None:
    """No key is delivered (in a row that is not quarantined) by more than one group of the pass."""
    groups = F.array_sort(F.collect_set(ctx.delivery_group()))
    again = (good.groupBy(key).agg(groups.alias("_groups")).where(F.size("_groups") > 1)
             .agg(F.min(F.element_at("_groups", 2)), F.min_by(key, F.element_at("_groups", 2))).first())
    if again[0] is not None:
        raise NotCombinable(again[0], f"it delivers {table} {key} {again[1]} again")


def city_fill_differs(addresses: list[tuple], stored: list[tuple]) -> tuple[int, str] | None:
    """The first group whose empty cities one pass could fill otherwise than its own run would, and why; None
    when they agree.

    ``addresses``: the pass's rows as (postal code, state, city, group, rows, needs a city); ``stored``: silver's
    rows of the postal codes that need a city, as (postal code, state, city, rows, rows the pass does not
    replace). A group's own run fills an empty city with the most frequent city of its postal code among the
    group's rows and what silver holds by then; the pass takes it among all groups at once. They agree when
    the postal code has at most one candidate city, and the group delivers it itself or finds it in a stored row
    that stays.
    """
    needing: dict[tuple, set] = defaultdict(set)
    delivering: dict[tuple, set] = defaultdict(set)
    cities: dict[tuple, set] = defaultdict(set)
    stays: set[tuple] = set()
    for zip_code, state, city, group, _, needs_city in addresses:
        if needs_city:
            needing[(zip_code, state)].add(group)
        if city is not None:
            cities[(zip_code, state)].add(city)
            delivering[(zip_code, state)].add(group)
    for zip_code, state, city, _, kept in stored:
        cities[(zip_code, state)].add(city)
        if kept:
            stays.add((zip_code, state))
    differs = []
    for place, groups in needing.items():
        name = "/".join(place)
        if len(cities[place]) > 1:
            differs.append((min(groups), f"its postal code {name} has {len(cities[place])} cities to fill an "
                                         "empty city from"))
        elif cities[place] and place not in stays and not groups <= delivering[place]:
            differs.append((min(groups - delivering[place]), f"it needs the city of postal code {name} and "
                                                              "neither delivers it nor finds it stored"))
    return min(differs, default=None)
