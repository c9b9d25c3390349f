"""Process models (HBV, ...), routing and named parameter tables."""

from .hbv import HBV, HBV_PARAMETERS
from .parameters import ParameterSpec, ParameterTable, UnknownParameterError
from .routing import gamma_uh, route

__all__ = [
    "HBV",
    "HBV_PARAMETERS",
    "ParameterSpec",
    "ParameterTable",
    "UnknownParameterError",
    "gamma_uh",
    "route",
]
