"""Köppen-like climate classes and the three climate groups of Beck et al. (2020).

The PUB experiment splits catchments into (1) tropical, (2) arid and temperate, (3) cold
and polar, and cross-validates inside each group. The full Köppen–Geiger scheme needs
monthly precipitation thresholds; here the main class comes from two things every basin
has uniformly: the monthly climatology of mean air temperature (from the forcing) and an
aridity index (PET/P, Caravan's ``aridity`` from ERA5-Land). Rules, applied in this order
(thresholds are module constants):

* **E polar**      warmest month < ``POLAR_WARMEST_C`` (10 °C)
* **B arid**       aridity PET/P ≥ ``ARID_INDEX`` (2.0; UNEP's semi-arid and drier, P/PET < 0.5)
* **A tropical**   coldest month ≥ ``TROPICAL_COLDEST_C`` (18 °C)
* **D cold**       coldest month ≤ ``COLD_COLDEST_C`` (−3 °C, Köppen's original limit)
* **C temperate**  otherwise

As in Köppen's scheme, polar comes before arid and arid before the temperature classes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = [
    "ARID_INDEX", "COLD_COLDEST_C", "CLIMATE_GROUPS", "POLAR_WARMEST_C", "TROPICAL_COLDEST_C",
    "climate_group", "koppen_main_class", "monthly_temperature_climatology",
]

POLAR_WARMEST_C = 10.0
ARID_INDEX = 2.0
TROPICAL_COLDEST_C = 18.0
COLD_COLDEST_C = -3.0

#: Beck et al. (2020)'s three groups, by Köppen main class.
CLIMATE_GROUPS = {"tropical": ("A",), "arid_temperate": ("B", "C"), "cold_polar": ("D", "E")}


def monthly_temperature_climatology(tmean: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """Mean of each calendar month of daily mean temperature (°C): dims ``(..., month)``, month 1..12.

    Raises ``ValueError`` naming the months that have no valid value for some site (a record
    too short or full of gaps cannot be classified).
    """
    clim = tmean.groupby(f"{dim}.month").mean(dim)
    missing = sorted(set(range(1, 13)) - set(clim["month"].values.tolist()))
    if missing:
        raise ValueError(f"temperature climatology needs every calendar month; no data for months {missing}")
    other = [d for d in clim.dims if d != "month"]
    empty = clim.isnull().any("month") if other else clim.isnull().any()
    if bool(empty.any()):
        where = clim[other[0]].values[empty.values].tolist()[:8] if other else []
        raise ValueError(f"temperature climatology has an all-NaN calendar month for {other[0] if other else 'the series'} "
                         f"{where}: every month needs valid temperatures")
    return clim


def koppen_main_class(t_monthly: np.ndarray, aridity: np.ndarray) -> np.ndarray:
    """Köppen main class ``"A".."E"`` per site from ``t_monthly [site, 12]`` (°C) and ``aridity [site]`` (PET/P, -).

    A NaN aridity cannot say "arid": such a site is classified by temperature alone.
    """
    t = np.asarray(t_monthly, dtype=float)
    a = np.asarray(aridity, dtype=float)
    if t.ndim != 2 or t.shape[1] != 12:
        raise ValueError(f"t_monthly must be [site, 12] monthly means in degC, got shape {t.shape}")
    if a.shape != (t.shape[0],):
        raise ValueError(f"aridity must have one value per site ({t.shape[0]}), got shape {a.shape}")
    if not np.isfinite(t).all():
        raise ValueError("t_monthly has NaN/inf values: every site needs 12 monthly temperatures")
    warmest, coldest = t.max(1), t.min(1)
    out = np.full(t.shape[0], "C", dtype="<U1")
    out[coldest <= COLD_COLDEST_C] = "D"
    out[coldest >= TROPICAL_COLDEST_C] = "A"
    with np.errstate(invalid="ignore"):
        out[a >= ARID_INDEX] = "B"
    out[warmest < POLAR_WARMEST_C] = "E"
    return out


def climate_group(main_class: np.ndarray) -> np.ndarray:
    """Beck et al. (2020)'s group name (``tropical``, ``arid_temperate``, ``cold_polar``) of each main class."""
    lookup = {c: g for g, classes in CLIMATE_GROUPS.items() for c in classes}
    cls = np.asarray(main_class)
    unknown = sorted(set(cls.tolist()) - set(lookup))
    if unknown:
        raise ValueError(f"unknown Köppen main class(es) {unknown}; expected one of {sorted(lookup)}")
    return np.array([lookup[c] for c in cls.tolist()], dtype=object).astype(str)
