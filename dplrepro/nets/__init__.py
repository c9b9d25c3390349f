"""Neural networks: parameter networks (gA, gz, static MLPs), the dPL coupling of a network to
a process model, the LSTM surrogate of the VIC-style model, and the SMAP gap-filling forecaster.

* :mod:`param_nets` (GA, GZ, StaticMLP, MemberLinear), :mod:`dpl` (:class:`DplModel`: network
  -> named, scaled parameters -> process model), :mod:`lstm_surrogate` (:class:`LSTMSurrogate`),
  :mod:`gapfill` (:class:`SmapForecaster`).

The process models themselves live in :mod:`dplrepro.physics`.
"""

from .dpl import DplModel
from .gapfill import SmapForecaster
from .lstm_surrogate import LSTMSurrogate
from .param_nets import GA, GZ, StaticMLP

__all__ = ["DplModel", "GA", "GZ", "LSTMSurrogate", "SmapForecaster", "StaticMLP"]
