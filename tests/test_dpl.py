"""Parameter networks, DplModel, losses and the Trainer (short real training runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dplrepro.data.splits import TimeWindow
from dplrepro.data.twin import make_virtual_basins
from dplrepro.experiments.streamflow import (
    StreamflowConfig, add_forcing_variables, attribute_names, build_inputs, fit_normalizer, make_dpl_model,
)
from dplrepro.losses import combined_rmse_loss, get_loss, nse_loss, rmse_loss
from dplrepro.nets.dpl import DplModel
from dplrepro.physics.hbv import HBV
from dplrepro.nets.param_nets import GA, GZ
from dplrepro.train import SiteTensors, TrainConfig, Trainer


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only add overhead


def test_losses_on_hand_computed_values():
    sim = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    obs = torch.tensor([[2.0, float("nan")], [3.0, 2.0]])
    # valid errors: -1, 0, 2 -> mse = 5/3
    assert rmse_loss(sim, obs).item() == pytest.approx(math.sqrt(5 / 3), rel=1e-5)
    # site 0: obs [2,3], var 0.25, mse 0.5 -> 0.5/(0.5+0.1)^2; site 1 has one value -> excluded
    assert nse_loss(sim, obs).item() == pytest.approx(0.5 / 0.6**2, rel=1e-5)
    sq = torch.sqrt
    expected = 0.75 * math.sqrt(5 / 3) + 0.25 * math.sqrt(
        ((sq(torch.tensor(1.0 + 1e-6)) - sq(torch.tensor(2.0 + 1e-6))) ** 2
         + 0 + (sq(torch.tensor(4.0 + 1e-6)) - sq(torch.tensor(2.0 + 1e-6))) ** 2).item() / 3)
    assert combined_rmse_loss(sim, obs).item() == pytest.approx(expected, rel=1e-4)
    with pytest.raises(KeyError, match="unknown loss 'mae'"):
        get_loss("mae")


def test_parameter_networks_output_shapes_and_bounds():
    torch.manual_seed(0)
    hbv = HBV(nmul=3, warmup=5)
    names = hbv.parameter_table.names
    x = torch.randn(20, 4, 6)
    ga = GA(6, names, nmul=3, hidden_size=8, dynamic=("BETA",))
    out = ga(x)
    assert out["BETA"].shape == (20, 4, 3) and out["FC"].shape == (4, 3)
    assert all(float(v.detach().min()) >= 0 and float(v.detach().max()) <= 1 for v in out.values())
    gz = GZ(6, names, nmul=3, hidden_size=8)
    z = torch.randn(30, 4)
    z[::3] = float("nan")  # gaps in the history are allowed
    out = gz(x, z)
    assert torch.isfinite(torch.stack([v for v in out.values()])).all()
    with pytest.raises(ValueError, match="needs an observation history"):
        gz(x)
    model = DplModel(GA(6, names, nmul=3, hidden_size=8), hbv)
    forcing = {"prcp": torch.rand(20, 4) * 5, "tmean": torch.randn(20, 4) * 5, "pet": torch.rand(20, 4) * 2}
    res = model(x, forcing)
    for name in names:  # physical parameters inside the table's bounds
        spec = hbv.parameter_table[name]
        value = res["params"][name].detach()
        assert spec.low <= float(value.min()) and float(value.max()) <= spec.high
    assert res["q"].shape == (15, 4)
    with pytest.raises(ValueError, match="does not predict"):
        DplModel(GA(6, names[:-1], nmul=3), hbv)


@pytest.fixture(scope="module")
def twin_inputs():
    ds = add_forcing_variables(make_virtual_basins(n_basins=12, start="1995-10-01", end="2000-09-30", seed=4))
    attrs = attribute_names(ds, ("p_mean", "aridity", "frac_snow", "elev_mean", "slope_mean", "sand_frac",
                                 "clay_frac", "frac_forest", "soil_depth_pelletier", "pet_mean"))
    train = TimeWindow("1996-10-01", "1998-09-30")
    test = TimeWindow("1998-10-01", "2000-09-30")
    norm = fit_normalizer(train.select(ds), attrs)
    return (build_inputs(ds, train, attrs, norm, warmup=365), build_inputs(ds, test, attrs, norm, warmup=365))


def _config(**kw):
    tc = TrainConfig(epochs=kw.pop("epochs", 6), batch_sites=12, window=365, warmup=365, history=365,
                     optimizer="adam", learning_rate=1e-2, progress=False, device="cpu", **kw)
    return StreamflowConfig(nmul=2, hidden_size=16, dropout=0.0, training=tc)


def _train(kind, inputs, epochs, checkpoint_dir=None):
    torch.manual_seed(0)
    cfg = _config(epochs=epochs)
    model = make_dpl_model(kind, inputs.tensors.x.shape[-1], cfg)
    trainer = Trainer(model, cfg.training, checkpoint_dir=checkpoint_dir)
    return trainer, trainer.fit(inputs.tensors)


@pytest.mark.slow
def test_short_training_beats_the_untrained_network_and_is_reproducible(twin_inputs):
    train, test = twin_inputs
    torch.manual_seed(0)
    untrained = Trainer(make_dpl_model("gA", train.tensors.x.shape[-1], _config()), _config().training)
    before = untrained.predict(test.tensors, start=365)
    trainer, hist = _train("gA", train, epochs=6)
    after = trainer.predict(test.tensors, start=365)
    from dplrepro.metrics import nse

    obs = test.tensors.target[365:]
    nse_before = np.nanmedian(nse(before["q"], obs, axis=0))
    nse_after = np.nanmedian(nse(after["q"], obs, axis=0))
    assert hist.loss[-1] < hist.loss[0]
    assert nse_after > nse_before + 0.2 and nse_after > 0.3, (nse_before, nse_after)
    # forward runs per site: 6 epochs x iterations x (730 simulated days / 1095 days of training data)
    assert trainer.iterations_per_epoch(train.tensors) == 2  # ceil(12/12) sites x ceil(730/365) windows
    assert hist.forward_runs_per_site[-1] == pytest.approx(6 * 2 * 730 / 1095)
    _, hist2 = _train("gA", train, epochs=6)
    assert hist2.loss == hist.loss  # seeded CPU reruns are identical


@pytest.mark.slow
def test_checkpoint_resume_reproduces_an_uninterrupted_run(twin_inputs, tmp_path):
    train, _ = twin_inputs
    _, straight = _train("gz", train, epochs=4)
    _, first = _train("gz", train, epochs=2, checkpoint_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").exists()
    resumed_trainer, resumed = _train("gz", train, epochs=4, checkpoint_dir=tmp_path)
    assert resumed.epoch == [1, 2, 3, 4]
    assert resumed.loss == pytest.approx(straight.loss, rel=1e-6)


def test_trainer_rejects_too_short_periods_and_bad_inputs():
    x = np.zeros((100, 3, 2), np.float32)
    f = {k: np.zeros((100, 3), np.float32) for k in ("prcp", "tmean", "pet")}
    with pytest.raises(ValueError, match="forcing 'pet' has shape"):
        SiteTensors(x, {**f, "pet": np.zeros((99, 3), np.float32)}, np.zeros((100, 3), np.float32))
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="contain NaN"):
        SiteTensors(bad, f, np.zeros((100, 3), np.float32))
    cfg = _config()
    model = make_dpl_model("gA", 2, cfg)
    with pytest.raises(ValueError, match="training period has 100 days"):
        Trainer(model, cfg.training).fit(SiteTensors(x, f, np.zeros((100, 3), np.float32)))


def test_seed_ensemble_members_train_as_if_alone(twin_inputs):
    """Each member of a SeedEnsemble follows the same trajectory as its network trained alone
    (same batch draws, no dropout, per-member clipping), and its outputs are its own."""
    from dplrepro.nets.dpl import SeedEnsemble

    train, _ = twin_inputs
    cfg = _config(epochs=2)
    hbv = HBV(nmul=cfg.nmul, warmup=cfg.warmup, routing=True)

    def net(seed, kind="gz"):
        torch.manual_seed(seed)
        return make_dpl_model(kind, train.tensors.x.shape[-1], cfg, z_stats=(1.0, 2.0)).parameter_network

    ensemble = SeedEnsemble([net(3), net(7)], hbv)
    tr = Trainer(ensemble, cfg.training, loss_fn=SeedEnsemble.loss(get_loss(cfg.training.loss)))
    tr.fit(train.tensors)
    alone = Trainer(DplModel(net(7), hbv), cfg.training)
    alone.fit(train.tensors)
    both = tr.predict(train.tensors, start=365)
    single = alone.predict(train.tensors, start=365)
    assert both["q"].shape == single["q"].shape + (2,)
    np.testing.assert_allclose(both["q"][..., 1], single["q"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(both["param_BETA"][:, 1], single["param_BETA"], rtol=2e-4)
    assert not np.allclose(both["q"][..., 0], both["q"][..., 1])   # the other seed is another model
    # the ensemble's loss is the sum of its members': member 1's is the lone model's, member 0 adds its own
    assert all(e > a > 0 for e, a in zip(tr.history.loss, alone.history.loss))


def test_static_parameters_do_not_depend_on_what_follows_the_warmup():
    """gA with static_step: the static parameters are a function of the first days only."""
    torch.manual_seed(0)
    net = GA(5, ("a", "b"), nmul=1, hidden_size=8, dropout=0.0, static_step=10)
    x = torch.randn(30, 4, 5)
    longer = torch.cat([x, torch.randn(50, 4, 5)])
    other = x.clone()
    other[10:] = torch.randn(20, 4, 5)
    ref = net(x)["a"]
    assert torch.equal(net(longer)["a"], ref) and torch.equal(net(other)["a"], ref)
    torch.manual_seed(0)
    last = GA(5, ("a", "b"), nmul=1, hidden_size=8, dropout=0.0)   # read at the last step: depends on the rest
    assert not torch.equal(last(other)["a"], last(x)["a"])
    with pytest.raises(ValueError, match="day 10"):
        net(x[:5])


def test_training_flushes_subnormal_gradients_to_zero():
    """Trainer.fit turns on flush-to-zero, in a fresh process (the flag is per process): a
    float32 subnormal (1e-39) then multiplies to 0, a normal 1e-37 is untouched. (Gradients
    through an unscored warm-up decay into that range and made the LSTM backward ~2x slower.)"""
    import subprocess
    import sys

    code = """
import torch
from dplrepro.train import SiteTensors, TrainConfig, Trainer
tiny, small = torch.tensor([1e-39]), torch.tensor([1e-37])
before = float(tiny * 1.0)
net = torch.nn.Linear(2, 1)
class M(torch.nn.Module):
    def __init__(self):
        super().__init__(); self.net = net
    def forward(self, x, forcing=None, z=None):
        return {"y": self.net(x)[..., 0]}
data = SiteTensors(x=torch.randn(20, 3, 2).numpy(), forcing={}, target=torch.randn(20, 3).numpy())
Trainer(M(), TrainConfig(epochs=1, batch_sites=3, window=10, warmup=0, output="y", progress=False)).fit(data)
print(before, float(tiny * 1.0), float(small * 1.0))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, after, small = map(float, out[-3:])
    if before == 0.0:
        pytest.skip("this CPU flushes subnormal floats by default")
    assert before == pytest.approx(1e-39, rel=1e-3) and after == 0.0 and small == pytest.approx(1e-37, rel=1e-6)


def _edited(inputs, factor=1.01):
    """The same inputs with every precipitation value scaled: other data, same shapes."""
    from dataclasses import replace

    forcing = {**inputs.tensors.forcing, "prcp": inputs.tensors.forcing["prcp"] * factor}
    return replace(inputs, tensors=replace(inputs.tensors, forcing=forcing))


@pytest.mark.slow
def test_a_checkpoint_resumes_only_the_training_it_was_made_for(twin_inputs, tmp_path, caplog, monkeypatch):
    """Before: any checkpoint found was resumed (other data, a damaged file, --force)."""
    train, _ = twin_inputs
    ckpt = tmp_path / "checkpoint.pt"
    first, _ = _train("gA", train, epochs=2, checkpoint_dir=tmp_path)
    assert first.epochs_run_here == 2 and first.cache_key
    again, _ = _train("gA", train, epochs=2, checkpoint_dir=tmp_path)
    assert again.epochs_run_here == 0 and again.history.wall_time_s == first.history.wall_time_s  # reused, cost kept
    with caplog.at_level("WARNING", logger="dplrepro.cache"):
        other, _ = _train("gA", _edited(train), epochs=2, checkpoint_dir=tmp_path)  # other data
    assert other.epochs_run_here == 2 and other.cache_key != first.cache_key
    assert "is not this run's" in caplog.text and str(ckpt) in caplog.text
    assert len(list(tmp_path.glob("checkpoint.pt.stale-*"))) == 1  # kept beside it, not overwritten

    blob = bytearray(ckpt.read_bytes())  # 4,000 bytes overwritten inside the file
    middle = len(blob) // 2
    blob[middle:middle + 4000] = b"\x7f" * 4000
    ckpt.write_bytes(bytes(blob))
    caplog.clear()
    with caplog.at_level("WARNING", logger="dplrepro.cache"):
        damaged, _ = _train("gA", _edited(train), epochs=2, checkpoint_dir=tmp_path)
    assert damaged.epochs_run_here == 2 and str(ckpt) in caplog.text
    assert "checksum mismatch" in caplog.text or "cannot be read back" in caplog.text
    assert max(float(p.abs().max()) for p in damaged.model.parameters()) < 1e3

    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    truncated, _ = _train("gA", _edited(train), epochs=2, checkpoint_dir=tmp_path)
    assert truncated.epochs_run_here == 2
    monkeypatch.setenv("DPLREPRO_FORCE", "1")  # what `dplrepro run --force` gives the kernel
    forced, _ = _train("gA", _edited(train), epochs=2, checkpoint_dir=tmp_path)
    assert forced.epochs_run_here == 2 and len(list(tmp_path.glob("checkpoint.pt.stale-*"))) == 4


@pytest.mark.slow
def test_an_sceua_cache_serves_only_the_calibration_it_holds(twin_inputs, tmp_path, caplog):
    """Before: any NetCDF at the cache path was loaded, whatever data it was calibrated on."""
    from dataclasses import replace

    from dplrepro.experiments import streamflow as sf

    train, _ = twin_inputs
    config = replace(_config(), sceua_maxn=40, sceua_ngs=1, n_seeds=1)
    cache = tmp_path / "sceua.nc"
    first = sf.calibrate_sceua(train, config, cache=cache, progress=False)
    assert not first.reused and first.wall_time_s > 0
    again = sf.calibrate_sceua(train, config, cache=cache, progress=False)
    assert again.reused and again.wall_time_s == pytest.approx(first.wall_time_s)  # the cost it had, never 0 s
    assert all(np.array_equal(again.params[k], first.params[k]) for k in first.params)
    with caplog.at_level("WARNING", logger="dplrepro.cache"):
        other = sf.calibrate_sceua(_edited(train), config, cache=cache, progress=False)
    assert not other.reused and "is not this run's" in caplog.text
    cache.write_bytes(cache.read_bytes()[:200])  # truncated
    caplog.clear()
    with caplog.at_level("WARNING", logger="dplrepro.cache"):
        recomputed = sf.calibrate_sceua(_edited(train), config, cache=cache, progress=False)
    assert not recomputed.reused and "cannot be read back" in caplog.text and str(cache) in caplog.text
    assert len(list(tmp_path.glob("sceua.nc.stale-*"))) == 2
