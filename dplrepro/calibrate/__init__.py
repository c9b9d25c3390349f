"""Classic per-site calibration baselines (batched over sites)."""

from dplrepro.calibrate.regional import LinearTransfer
from dplrepro.calibrate.sceua import (
    ProcessCalibration,
    SceuaResult,
    SceuaSettings,
    calibrate_process_model,
    nan_rmse,
    sceua,
)

__all__ = [
    "LinearTransfer",
    "ProcessCalibration",
    "SceuaResult",
    "SceuaSettings",
    "calibrate_process_model",
    "nan_rmse",
    "sceua",
]
