"""Physics: the process models and what they need, with no neural network in sight.

* :mod:`hbv` (HBV with parallel components), :mod:`vic_style` (three-layer VIC-style soil
  model), :mod:`routing` (gamma unit hydrograph), :mod:`time_loop` (the one daily loop, eager
  or fused), :mod:`pet` (every PET formula), :mod:`parameters` (named parameter bounds, the
  one bounds concept of models and the synthetic twin).

Every process model maps ``forcing [time, site(, nmul)]`` and physical parameters to fluxes
and states (mm/day, mm, m3/m3) through pure step functions run by :mod:`time_loop`.
"""

from .hbv import HBV, HBV_PARAMETERS
from .parameters import ParameterSpec, ParameterTable, UnknownParameterError
from .routing import gamma_uh, route
from .vic_style import VIC_STYLE_PARAMETERS, VICStyle

__all__ = [
    "HBV", "HBV_PARAMETERS", "ParameterSpec", "ParameterTable", "UnknownParameterError", "VICStyle",
    "VIC_STYLE_PARAMETERS", "gamma_uh", "route",
]
