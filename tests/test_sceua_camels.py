"""Batched SCE-UA vs spotpy's sceua calibrating HBV on one real CAMELS basin, same budget."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from dplrepro.calibrate.sceua import SceuaSettings, calibrate_process_model
from dplrepro.data.camels_us import load_camels_us
from dplrepro.physics.pet import hargreaves
from dplrepro.metrics import nse
from dplrepro.physics.hbv import HBV

BASIN = "01047000"  # Carrabassett River, Maine: snow-affected, complete record
WARMUP = 365
MAXN = 700


@pytest.fixture(scope="module")
def basin_data(camels_us_path):
    ds = load_camels_us([BASIN], start="2000-10-01", end="2002-09-30")
    b = ds.isel(basin=0)
    doy = ds["time"].dt.dayofyear.values
    pet = hargreaves(b["tmin"].values, b["tmax"].values, float(b["lat"]), doy)
    forcing = {
        "prcp": torch.tensor(b["prcp"].values, dtype=torch.float32)[:, None],
        "tmean": torch.tensor(((b["tmin"] + b["tmax"]) / 2).values, dtype=torch.float32)[:, None],
        "pet": torch.tensor(pet, dtype=torch.float32)[:, None],
    }
    obs = b["qobs"].values[WARMUP:].astype(np.float32)
    assert np.isfinite(obs).mean() > 0.95
    return forcing, obs


@pytest.mark.slow
def test_batched_sceua_matches_spotpy_on_a_camels_basin(basin_data, one_torch_thread):
    import spotpy

    forcing, obs = basin_data
    model = HBV(nmul=1, warmup=WARMUP)
    table = model.parameter_table

    class Setup:
        def __init__(self):
            self.params = [spotpy.parameter.Uniform(s.name, s.low, s.high) for s in table]

        def parameters(self):
            return spotpy.parameter.generate(self.params)

        def simulation(self, vector):
            p = {s.name: torch.tensor([[float(vector[i])]]) for i, s in enumerate(table)}
            with torch.no_grad():
                return model(forcing, p)["q"][:, 0].numpy()

        def evaluation(self):
            return obs

        def objectivefunction(self, simulation, evaluation):
            return float(1 - nse(np.asarray(simulation), evaluation))

    with contextlib.redirect_stdout(io.StringIO()):
        sampler = spotpy.algorithms.sceua(Setup(), dbname="sceua_hbv", dbformat="ram", save_sim=False, random_state=7)
        sampler.sample(MAXN, ngs=3, kstop=100, pcento=1e-9, peps=1e-9)
    spotpy_best, spotpy_runs = sampler.status.objectivefunction_min, sampler.status.rep

    settings = SceuaSettings(ngs=3, maxn=MAXN, kstop=100, pcento=1e-9, peps=1e-9, seed=7)
    ours = calibrate_process_model(
        model, forcing, torch.tensor(obs)[:, None], table, lambda s, o: 1 - nse(s, o, axis=0), settings,
        param_transform=lambda name, v: v.reshape(-1, 1).to(torch.float32), progress=False,
    ).result
    our_best = float(ours.f[0])
    print(f"1-NSE ours {our_best:.4f} ({int(ours.n_evaluations[0])} runs), spotpy {spotpy_best:.4f} ({spotpy_runs} runs)")
    # equal budget: both stop after the shuffling loop in which MAXN is reached
    assert abs(int(ours.n_evaluations[0]) - spotpy_runs) <= 3 * 3 * (2 * len(table) + 1)
    # objective 1 - NSE: ours within a few percent of spotpy's (or better)
    assert our_best <= 1.05 * spotpy_best + 0.005, (our_best, spotpy_best)
    # and it is a real calibration: NSE well above the mean-flow benchmark
    assert 1 - our_best > 0.5
