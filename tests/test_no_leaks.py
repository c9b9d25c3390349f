"""The evidence rules in code: gz's history is never scored or in its loss, static parameters
do not read the test period, the surrogate's refinement never reads a test cell or year."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dplrepro.data.splits import density_mask
from dplrepro.experiments import soil_moisture as sm
from dplrepro.experiments import surrogate as sx
from dplrepro.experiments.grid import GridInputs
from dplrepro.nets.param_nets import ObservationEncoder
from dplrepro.train import SiteTensors


def _inputs(n_time=800, first=365, n_cells=3):
    target = np.arange(n_time * n_cells, dtype=np.float32).reshape(n_time, n_cells)
    target[:3] = np.nan
    tensors = SiteTensors(x=np.zeros((n_time, n_cells, 2), np.float32),
                          forcing={"prcp": np.zeros((n_time, n_cells), np.float32)}, target=target)
    return GridInputs(tensors, np.arange(n_cells), np.arange(n_time - first), first)


def test_gz_training_history_leaves_the_loss():
    inp = _inputs()
    out = sm.with_gz_history(inp, training=True, days=5)
    np.testing.assert_array_equal(out.tensors.z, inp.tensors.target[365:370])
    assert np.isnan(out.tensors.target[365:370]).all()                     # history days: no loss
    np.testing.assert_array_equal(out.tensors.target[370:], inp.tensors.target[370:])
    assert not np.isnan(inp.tensors.target[365:370]).any()                 # the input is not changed
    with pytest.raises(ValueError, match="no loss days"):
        sm.with_gz_history(inp, training=True, days=435)


def test_gz_test_history_precedes_the_scored_period():
    inp = _inputs(n_time=400, first=370)
    out = sm.with_gz_history(inp, training=False, days=5)
    # the first 5 days of the 365 before the scored period (day 370): days 5..9, never scored
    np.testing.assert_array_equal(out.tensors.z, inp.tensors.target[5:10])
    np.testing.assert_array_equal(out.tensors.target, inp.tensors.target)  # the whole period is scored
    with pytest.raises(ValueError, match="365 days before"):
        sm.with_gz_history(_inputs(n_time=400, first=300), training=False, days=5)
    blind = _inputs(n_time=400, first=370)
    blind.tensors.target[:370] = np.nan
    with pytest.raises(ValueError, match="no observation"):
        sm.with_gz_history(blind, training=False, days=5)


def test_the_encoder_standardises_its_history():
    torch.manual_seed(0)
    enc = ObservationEncoder(1, 4, mean=0.3, std=0.05)
    torch.manual_seed(0)
    raw = ObservationEncoder(1, 4)
    z = torch.tensor([[0.25, float("nan")], [0.35, 0.30]])
    assert torch.allclose(enc(z), raw((z - 0.3) / 0.05))
    assert torch.isfinite(enc(z)).all()   # gaps are a channel, not a NaN
    with pytest.raises(ValueError, match="std"):
        ObservationEncoder(1, 4, std=0.0)


def test_spatial_and_temporal_tests_score_the_year_after_training():
    from dplrepro.data.splits import SMAP_TEST_1Y, SMAP_TRAIN_2Y
    one = sm.TrainingSetting(4, 1, None, np.array([0, 5]), np.array([1, 2]), None)
    windows = sm.test_windows(one)
    assert windows["temporal"][1] == SMAP_TEST_1Y and windows["spatial"][1] == SMAP_TEST_1Y
    assert list(windows["spatial"][0]) == [1, 2]
    two = sm.TrainingSetting(4, 2, SMAP_TRAIN_2Y, np.array([0, 5]), np.array([1, 2]), None)
    assert set(sm.test_windows(two)) == {"spatial"} and sm.test_windows(two)["spatial"][1] == SMAP_TRAIN_2Y


def test_surrogate_refinement_reads_only_cells_trained_at_every_density():
    import xarray as xr
    row, col = np.divmod(np.arange(64), 8)
    keep = np.ones(64, bool)
    keep[[0, 18]] = False                      # holes move some anchors
    grid = xr.Dataset({"row": ("cell", row[keep]), "col": ("cell", col[keep])})
    train = np.flatnonzero(density_mask(grid["row"].values, grid["col"].values, 4))
    refine = sx.refinement_cells(grid, train)
    assert refine.size > 0 and set(refine) <= set(train)
    for n in sx.REFINE_DENSITIES:
        assert density_mask(grid["row"].values, grid["col"].values, n)[refine].all()
