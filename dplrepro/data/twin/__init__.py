"""Deterministic synthetic "twin" data with known true parameters.

The project's embedded default data when the real archives are absent, and the ground truth
of twin experiments: forcings and static attributes are generated, hidden *true* parameters
are computed from the attributes by a fixed, documented *true transfer function*, and a
reference simulator turns forcings + true parameters into observations (plus noise and
gaps). A parameter-learning method is then judged on whether it recovers the observations
*and* the hidden parameters.

Two generators mimic the real analysis-ready schemas (``shared/data/README.md``):

* :func:`make_virtual_basins` (:mod:`.basins`) -- the ``camels_us.nc`` subset: dims
  ``(basin, time)``, ``prcp``/``qobs`` mm/day, ``tmax``/``tmin`` degC, ``lat``, ``lon``,
  ``area_km2``, ``in_531``, ``attr_*`` static attributes;
* :func:`make_virtual_grid` (:mod:`.grid`) -- ``smap_conus.nc`` after unit conversion: dims
  ``(cell, time)``, ``prcp`` mm/day, ``tmean`` degC, ``dswrf`` W/m2, ``spfh`` kg/kg,
  ``smap_am`` m3/m3 with a 2-3-day revisit, ``lat``, ``lon``, ``row``, ``col``,
  ``sand``/``clay``/``silt`` (percent), ``ndvi``, ``capa``, ``bulk``.

Both add ``true_<PARAM>`` (hidden parameters, per site) and a noise-free truth
(``q_true`` / ``smap_true``, not present in real data), and global attributes
``data_source``, ``seed``, ``true_transfer_function`` and ``simulator``.

Modules: :mod:`.simulators` (the two small NumPy reference models, bounds as
:class:`dplrepro.physics.parameters.ParameterSpec`, :class:`TwinSimulator` to pass the
project's HBV or VIC-style model in instead), :mod:`.transfer` (the true transfer function),
:mod:`.weather` (climate, daily weather and smooth random fields, each component on its own
random stream ``default_rng([seed, crc32(name)])``, so the output is bitwise-identical for the
same arguments), :mod:`.basins` and :mod:`.grid` (the generators). PET comes from
:mod:`dplrepro.physics.pet` (Hargreaves for the basins, Oudin for the grid).
"""

from . import simulators, transfer
from .basins import make_virtual_basins
from .grid import make_virtual_grid
from .simulators import *  # noqa: F403 -- the names of simulators.__all__
from .transfer import *  # noqa: F403 -- the names of transfer.__all__
from .weather import smooth_field

__all__ = ["make_virtual_basins", "make_virtual_grid", "smooth_field", *simulators.__all__, *transfer.__all__]
