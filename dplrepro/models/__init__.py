"""Process models (HBV, VIC-style), their surrogate, parameter networks and named parameter tables."""

from .dpl import DplModel
from .gapfill import SmapForecaster
from .hbv import HBV, HBV_PARAMETERS
from .param_nets import GA, GZ, StaticMLP
from .parameters import ParameterSpec, ParameterTable, UnknownParameterError
from .routing import gamma_uh, route
from .surrogate import LSTMSurrogate
from .vic_style import VIC_STYLE_PARAMETERS, VICStyle

__all__ = [
    "DplModel", "GA", "GZ", "HBV", "HBV_PARAMETERS", "LSTMSurrogate", "ParameterSpec", "ParameterTable",
    "SmapForecaster", "StaticMLP", "UnknownParameterError", "VICStyle", "VIC_STYLE_PARAMETERS", "gamma_uh", "route",
]
