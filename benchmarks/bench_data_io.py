"""Read throughput of the CAMELS-US reader vs plain xarray on the same file.

The reader adds validation (ids, variables, all-NaN checks) on top of xarray; this shows
what that costs. Writes benchmarks/results/data_io.json.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import xarray as xr

from dplrepro.data.camels_us import load_camels_us
from dplrepro.data.paths import require
from dplrepro.utils import write_json_atomic

VARIABLES = ["prcp", "tmax", "tmin", "qobs"]


def _time(fn, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    path = require("camels_us.nc")
    rows = []
    for n in (10, 100, 494):
        ids = list(xr.open_dataset(path)["basin"].values[:n])

        def ours():
            load_camels_us(ids, variables=VARIABLES)[VARIABLES].load()

        def plain():
            with xr.open_dataset(path) as ds:
                ds[VARIABLES].sel(basin=ids).load()

        t_ours, t_plain = _time(ours), _time(plain)
        rows.append({"basins": n, "dplrepro_s": t_ours, "xarray_s": t_plain, "ratio": t_ours / t_plain})
    record = {"benchmark": "data_io", "machine": platform.platform(), "processor": platform.processor(),
              "file": str(path), "rows": rows}
    out = write_json_atomic(Path(__file__).parent / "results" / "data_io.json", record)
    print(f"{'basins':>7} {'dplrepro s':>11} {'xarray s':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['basins']:>7} {r['dplrepro_s']:>11.3f} {r['xarray_s']:>9.3f} {r['ratio']:>6.2f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
