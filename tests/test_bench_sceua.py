"""The SCE-UA benchmark (batched vs spotpy) runs in its smoke setting and records real calibrations.

No timing is asserted: only the record's shape, sane objective values, the evaluation
budgets actually respected, and that each recorded best objective is what the HBV gives
with the recorded parameters.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder of the project, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_sceua as bench  # noqa: E402
from dplrepro.data.splits import TimeWindow  # noqa: E402
from dplrepro.metrics import nse  # noqa: E402
from dplrepro.physics.hbv import HBV  # noqa: E402

pytestmark = pytest.mark.real_data

ROW_KEYS = {
    "n_basins", "budget", "ours_wall_s", "spotpy_wall_s", "spotpy_basins_run", "spotpy_wall_extrapolated",
    "ours_sites_per_hour", "spotpy_sites_per_hour", "speedup",
    "ours_obj_median", "ours_obj_q25", "ours_obj_q75", "spotpy_obj_median", "spotpy_obj_q25", "spotpy_obj_q75",
    "paired_median_difference", "fraction_ours_le_spotpy", "ours_evaluations_mean", "spotpy_evaluations_mean",
}  # fmt: skip
SETTING_KEYS = {
    "budget", "ngs", "kstop", "pcento", "peps", "training_window", "warmup_days", "basin_ids", "torch_threads",
    "spotpy_version", "device", "sizes", "nspl", "npg", "npt", "spotpy_repetitions",
}  # fmt: skip


def _objective(data: bench.BenchData, n: int, params: dict) -> np.ndarray:
    """1 − NSE of a fresh HBV run (nmul=1, the chapter's warm-up) with the given physical parameters."""
    first = data.first_day
    model = HBV(nmul=1, warmup=first, routing=data.config.routing)
    forcing = {k: torch.as_tensor(v[:, :n], dtype=torch.float32) for k, v in data.inputs.tensors.forcing.items()}
    p = {name: torch.as_tensor(np.asarray(params[name], dtype=np.float64), dtype=torch.float32).reshape(n, 1)
         for name in model.parameter_table.names}
    with torch.no_grad():
        sim = model(forcing, p)["q"].numpy().astype(np.float64)
    obs = data.inputs.tensors.target[first:, :n].astype(np.float64)
    return 1.0 - nse(sim, obs, axis=0)


def test_smoke_benchmark_records_real_paired_calibrations(tmp_path, camels_us_path):
    threads = torch.get_num_threads()
    rec = bench.main(["--smoke", "--out-dir", str(tmp_path)])
    assert torch.get_num_threads() == threads  # main restores the thread setting

    files = list(tmp_path.glob("sceua--*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert {"benchmark", "machine", "settings", "rows", "targets", "notes", "per_basin"} <= set(saved)
    assert saved["benchmark"] == "sceua"
    assert saved["rows"] == rec["rows"]
    settings = saved["settings"]
    assert SETTING_KEYS <= set(settings)
    sizes, budget = settings["sizes"], settings["budget"]
    assert sizes == [1, 2]
    assert len(settings["basin_ids"]) == max(sizes)

    # one row per size, finite objective statistics within [0, 2] (1 - NSE of a calibrated model)
    assert [r["n_basins"] for r in saved["rows"]] == sizes
    for row in saved["rows"]:
        assert ROW_KEYS <= set(row)
        assert row["spotpy_basins_run"] == row["n_basins"] and row["spotpy_wall_extrapolated"] is False
        for key in ("ours_obj_median", "spotpy_obj_median", "ours_obj_q25", "spotpy_obj_q75"):
            assert row[key] is not None and 0.0 <= row[key] <= 2.0, (key, row[key])
        assert math.isfinite(row["speedup"]) and row["speedup"] > 0
        assert 0.0 <= row["fraction_ours_le_spotpy"] <= 1.0

    target = saved["targets"][0]
    assert target["threshold"] == 100 and isinstance(target["met"], bool)
    assert target["value"] == saved["rows"][-1]["speedup"]

    # the budget counts real model runs for both and is checked once per shuffling loop by both
    # (spotpy finishes the loop's complexes), so each may exceed it by at most one loop:
    # 3 evaluations per complex and CCE step
    loop = 3 * settings["ngs"] * settings["nspl"]
    bound = budget - 1 + loop
    npt = settings["ngs"] * settings["npg"]
    assert settings["npt"] == npt and budget > npt
    assert settings["spotpy_repetitions"] == 2 * budget - npt + settings["ngs"]
    per_basin = saved["per_basin"]
    spot = per_basin["spotpy"]
    assert [s["basin"] for s in spot] == settings["basin_ids"][: max(sizes)]
    for s in spot:
        assert s["repetitions"] == settings["spotpy_repetitions"]
        assert s["reason"] in ("maxn", "pcento", "peps")
        assert s["model_runs"] <= bound
        assert s["model_runs"] <= s["status_rep"]  # spotpy's counter also counts every stored offspring
        if s["reason"] == "maxn":  # stopped by the real-run budget (not by spotpy's own counter)
            assert s["budget_reached"] and budget <= s["model_runs"]
        assert 0.0 <= s["objective"] <= 2.0
    n_paired = 0
    for n in sizes:
        ours = per_basin["ours_by_size"][str(n)]
        assert len(ours["ours_objective"]) == n
        evals = np.array(ours["ours_n_evaluations"])
        assert (evals <= bound).all()
        assert all(r in ("maxn", "pcento", "peps") for r in ours["ours_reason"])
        assert all(0.0 <= f <= 2.0 for f in ours["ours_objective"])
        for k in range(n):
            if ours["ours_reason"][k] == "maxn":
                assert evals[k] >= budget
            # same budget in the same unit: where neither converged early, both made >= budget real runs
            # and they differ by less than one shuffling loop's evaluations
            if ours["ours_reason"][k] == "maxn" and spot[k]["reason"] == "maxn":
                n_paired += 1
                assert abs(int(evals[k]) - spot[k]["model_runs"]) < loop, (n, k, evals[k], spot[k]["model_runs"])
    assert n_paired > 0  # the smoke budget is one loop after the initial population: nothing converges

    # the recorded best objectives are the HBV's 1 - NSE with the recorded parameters
    window = settings["training_window"]
    data = bench.load_basins(max(sizes), TimeWindow(window["start"], window["end"]), settings["warmup_days"],
                             settings["seed"])
    assert data.basins == settings["basin_ids"]
    for n in sizes:
        ours = per_basin["ours_by_size"][str(n)]
        again = _objective(data, n, ours["ours_params"])
        np.testing.assert_allclose(again, ours["ours_objective"], rtol=0, atol=1e-5)
    spot_params = {name: [s["params"][name] for s in spot] for name in spot[0]["params"]}
    again = _objective(data, len(spot), spot_params)
    np.testing.assert_allclose(again, [s["objective"] for s in spot], rtol=0, atol=1e-5)
