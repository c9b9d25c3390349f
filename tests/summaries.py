"""Schema-complete chapter summaries for tests: the keys a test cares about, the rest filled in."""

from __future__ import annotations

from typing import Any

from dplrepro.results import SCHEMAS

_FILL = {"number": 0.5, "int": 1, "str": "x", "bool": False, "list": [1], "dict": {}, "records": [], "any": None, "claims": {}}
#: A valid PUB fraction curve (the one list of records that must not be empty).
FRACTION_CURVE = [{"method": m, "fraction": f, "median_kge": 0.5, "n_train_basins": int(100 * f)}
                  for m in ("ltf8", "dpl8") for f in (1.0, 0.5)]


def complete_summary(chapter: str, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` plus a value of the right type for every other key of ``chapter``'s schema."""
    filled = {k: FRACTION_CURVE if k == "fraction_curve" else _FILL[key.kind] for k, key in SCHEMAS[chapter].items()}
    return {**filled, **given}
