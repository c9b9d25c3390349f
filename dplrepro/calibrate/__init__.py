"""Classic per-site calibration baselines (batched over sites)."""

from dplrepro.calibrate.sceua import (
    ProcessCalibration,
    SceuaResult,
    SceuaSettings,
    calibrate_process_model,
    nan_rmse,
    sceua,
)

__all__ = [
    "ProcessCalibration",
    "SceuaResult",
    "SceuaSettings",
    "calibrate_process_model",
    "nan_rmse",
    "sceua",
]
