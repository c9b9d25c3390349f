"""Reader for ``camels_gb.nc``: CAMELS-GB precipitation, temperature and discharge.

Dimensions ``(basin, time)``, 1980-10-01..2015-09-30: ``prcp`` mm/day (CEH-GEAR),
``tmean`` degC, ``qobs`` mm/day (specific discharge); per basin ``lat``, ``lon``,
``area_km2``, ``gauge_name``, ``has_caravan_attributes`` and the Caravan climate and
HydroATLAS attributes as ``attr_<name>`` (NaN for the basins outside Caravan).

Caveat (see ``data/README.md``): the public repackaging forward-filled gaps; runs of at
least 10 identical ``qobs`` values were set to NaN (global attribute ``gap_values_masked``).
There is no daily PET in the file.
"""

from __future__ import annotations

from typing import Sequence

import xarray as xr

from .camels_us import (
    _check_sites,
    _check_variables,
    _filter_by_valid_q,
    _finish,
    _keep_flagged,
    _normalise_ids,
    _open_dataset,
    _require_dims,
    _select_time,
    _subset,
)
from .errors import DataFormatError
from .paths import require

__all__ = ["CAMELS_GB_FILE", "load_camels_gb"]

#: File name inside the data folder.
CAMELS_GB_FILE = "camels_gb.nc"

_GB_METADATA = ("lat", "lon", "area_km2", "gauge_name", "has_caravan_attributes")


def load_camels_gb(
    basins: Sequence[str] | str | None = None,
    *,
    variables: Sequence[str] | str | None = None,
    start=None,
    end=None,
    caravan_only: bool = False,
    min_valid_qobs: int = 0,
) -> xr.Dataset:
    """Read CAMELS-GB from ``$DPLREPRO_DATA/camels_gb.nc`` into memory.

    Same conventions as :func:`dplrepro.data.camels_us.load_camels_us`: ``basins`` are
    NRFA station ids (strings, e.g. ``"1001"``; integers accepted), unknown ids raise
    :class:`UnknownSiteError`, a missing variable raises :class:`DataFormatError`,
    explicitly requested basins without any valid ``qobs`` in the period raise
    :class:`DataFormatError`, and with ``basins=None`` the ``min_valid_qobs`` filter drops
    (and logs) basins. ``caravan_only=True`` keeps the 406 basins that have Caravan
    attributes (``has_caravan_attributes``).
    """
    path = require(CAMELS_GB_FILE)
    explicit = basins is not None
    with _open_dataset(path) as raw:
        _require_dims(raw, ("basin", "time"), path)
        keep = _check_variables(raw, variables, path, keep=_GB_METADATA)
        ds = _subset(raw, keep)
        if explicit:
            ids = _normalise_ids(basins)
            _check_sites(ids, raw.basin.values, path, "basin")
            ds = ds.sel(basin=ids)
        if caravan_only:
            if "has_caravan_attributes" not in raw.data_vars:
                raise DataFormatError(f"{path} has no 'has_caravan_attributes' variable")
            ds = _keep_flagged(ds, raw, "has_caravan_attributes", explicit,
                               "requested with caravan_only=True have no Caravan attributes")
        ds = _select_time(ds, start, end, path)
        ds = _finish(ds, path)
    return _filter_by_valid_q(ds, explicit=explicit, min_valid=min_valid_qobs, path=path)
