"""Global PUB building blocks: climate classes, member networks, the k-fold protocol, tensors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dplrepro.calibrate import LinearTransfer
from dplrepro.data.climate import climate_group, koppen_main_class, monthly_temperature_climatology
from dplrepro.data.splits import TimeWindow
from dplrepro.experiments import pub
from dplrepro.nets.param_nets import MemberLinear, StaticMLP
from dplrepro.train import SiteTensors, TrainConfig, Trainer


# ----------------------------------------------------------------------------- climate classes
def _months(coldest: float, warmest: float) -> np.ndarray:
    return coldest + (warmest - coldest) * (1 - np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False))) / 2


def test_koppen_rules_on_hand_made_climates():
    t = np.stack([
        _months(24, 28),    # tropical, humid
        _months(24, 28),    # same temperatures but arid
        _months(-20, 8),    # polar: warmest month below 10 degC, even though dry
        _months(-10, 22),   # cold winters
        _months(3, 17),     # temperate (e.g. Britain)
        _months(-3, 20),    # coldest exactly -3: cold (Köppen's limit is inclusive)
        _months(18, 26),    # coldest exactly 18: tropical
        _months(5, 25),     # aridity exactly 2: arid
        _months(5, 25),     # unknown aridity: by temperature only
    ])
    aridity = np.array([0.8, 3.0, 5.0, 1.0, 0.6, 1.0, 1.0, 2.0, np.nan])
    cls = koppen_main_class(t, aridity)
    assert cls.tolist() == ["A", "B", "E", "D", "C", "D", "A", "B", "C"]
    assert climate_group(cls).tolist() == ["tropical", "arid_temperate", "cold_polar", "cold_polar", "arid_temperate",
                                           "cold_polar", "tropical", "arid_temperate", "arid_temperate"]


def test_koppen_rejects_bad_shapes_and_classes():
    with pytest.raises(ValueError, match=r"\[site, 12\]"):
        koppen_main_class(np.zeros((3, 11)), np.ones(3))
    with pytest.raises(ValueError, match="one value per site"):
        koppen_main_class(np.zeros((3, 12)), np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        koppen_main_class(np.full((1, 12), np.nan), np.ones(1))
    with pytest.raises(ValueError, match="unknown Köppen main class"):
        climate_group(np.array(["A", "X"]))


def test_monthly_climatology_is_the_mean_of_each_calendar_month():
    time = pd.date_range("2001-01-01", "2002-12-31", freq="D")
    values = np.stack([time.month.values * 1.0, time.month.values * 2.0 - 5])
    da = xr.DataArray(values, dims=("basin", "time"), coords={"basin": ["a", "b"], "time": time})
    clim = monthly_temperature_climatology(da).transpose("basin", "month")
    np.testing.assert_allclose(clim.sel(basin="a").values, np.arange(1, 13))
    np.testing.assert_allclose(clim.sel(basin="b").values, np.arange(1, 13) * 2.0 - 5)
    with pytest.raises(ValueError, match=r"no data for months \[7, 8\]"):
        monthly_temperature_climatology(da.where(~da["time"].dt.month.isin([7, 8]), drop=True))
    gappy = da.copy()
    gappy.loc[{"basin": "b"}] = np.where(time.month == 3, np.nan, gappy.sel(basin="b").values)
    with pytest.raises(ValueError, match=r"all-NaN calendar month for basin \['b'\]"):
        monthly_temperature_climatology(gappy)


# ----------------------------------------------------------------------------- member networks
def test_member_linear_members_are_independent_and_match_separate_training():
    """Training two members in one batch (mean loss over all rows, Adam) follows the same
    trajectory as training each alone: Adam is invariant to the constant 1/2 gradient scale."""
    torch.manual_seed(0)
    a = torch.randn(40, 3)
    member = torch.arange(40) // 20
    target = torch.stack([a @ torch.tensor([1.0, -2.0, 0.5]) + 1, a @ torch.tensor([-1.0, 0.0, 3.0])]).T
    target = torch.where(member[:, None] == 0, target[:, :1], target[:, 1:])

    joint = MemberLinear(2, 3, 1)
    singles = [MemberLinear(1, 3, 1) for _ in range(2)]
    with torch.no_grad():
        for m, s in enumerate(singles):
            s.weight.copy_(joint.weight[m : m + 1])
            s.bias.copy_(joint.bias[m : m + 1])
    opt = torch.optim.Adam(joint.parameters(), lr=0.05)
    opts = [torch.optim.Adam(s.parameters(), lr=0.05) for s in singles]
    for _ in range(100):
        opt.zero_grad()
        ((joint(a, member) - target) ** 2).mean().backward()
        opt.step()
        for m, (s, o) in enumerate(zip(singles, opts)):
            rows = member == m
            o.zero_grad()
            ((s(a[rows], torch.zeros(int(rows.sum()), dtype=torch.long)) - target[rows]) ** 2).mean().backward()
            o.step()
    for m, s in enumerate(singles):
        torch.testing.assert_close(joint.weight[m], s.weight[0], atol=1e-4, rtol=0)
    # and the fit is real: member 0 recovers its slopes
    torch.testing.assert_close(joint.weight[0, :, 0], torch.tensor([1.0, -2.0, 0.5]), atol=0.05, rtol=0)


def test_member_gradient_comes_only_from_its_own_rows():
    net = MemberLinear(3, 4, 2)
    a = torch.randn(9, 4)
    member = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    out = net(a, member)
    out[member == 1].sum().backward()
    assert net.weight.grad[0].abs().sum() == 0 and net.weight.grad[2].abs().sum() == 0
    assert net.weight.grad[1].abs().sum() > 0


def test_linear_transfer_is_a_truncated_linear_function():
    names = ("A", "B")
    ltf = LinearTransfer(2, names)
    x = torch.tensor([[[1.0, -1.0], [0.0, 0.0], [3.0, 0.0]]])  # [1, site, attribute]
    out = ltf(x)
    assert set(out) == set(names) and out["A"].shape == (3, 1)
    torch.testing.assert_close(out["A"], torch.full((3, 1), 0.5))  # zero init: mid-range everywhere
    with torch.no_grad():
        ltf.linear.weight[0, 0, 0] = 0.2   # A = 0.5 + 0.1 + 0.2 * a0
        ltf.linear.bias[0, 0] = 0.1
    a = ltf(x)["A"][:, 0]
    torch.testing.assert_close(a, torch.tensor([0.8, 0.6, 1.0]))  # 0.5 + 0.1 + 0.6 = 1.2 -> clipped to 1
    coef = ltf.coefficients()
    torch.testing.assert_close(coef["A"], torch.tensor([0.6, 0.2, 0.0]))


def test_static_mlp_reads_member_ids_and_rejects_bad_ones():
    torch.manual_seed(0)
    net = StaticMLP(3, ("A", "B", "C"), nmul=4, hidden_size=8, n_members=2)
    x = torch.cat([torch.tensor([0.0, 1.0, 1.0])[:, None], torch.randn(3, 3)], -1)[None]
    out = net(x)
    assert out["B"].shape == (3, 4) and all(((v >= 0) & (v <= 1)).all() for v in out.values())
    # two rows with the same attributes but different members get different parameters
    x2 = x.clone()
    x2[0, 1, 1:] = x2[0, 0, 1:]
    p = net(x2)["A"]
    assert not torch.allclose(p[0], p[1])
    with pytest.raises(ValueError, match=r"member ids .* 0\.\.1"):
        net(torch.cat([torch.full((3, 1), 2.0), torch.randn(3, 3)], -1)[None])


def test_trainer_accepts_static_inputs_without_copying_them_over_time():
    t, s = 40, 5
    data = SiteTensors(x=np.zeros((1, s, 3), np.float32), forcing={"prcp": np.ones((t, s), np.float32)},
                       target=np.ones((t, s), np.float32))
    trainer = Trainer(torch.nn.Linear(1, 1), TrainConfig(window=10, warmup=5, device="cpu", progress=False))
    batch = trainer.batch(data, np.array([0, 2]), start=10)
    assert batch["x"].shape == (1, 2, 3) and batch["forcing"]["prcp"].shape == (15, 2)  # 5 warm-up + 10 window days
    with pytest.raises(ValueError, match=r"\[1, site=5, feature\]"):
        SiteTensors(x=np.zeros((2, s, 3), np.float32), forcing={}, target=np.ones((t, s), np.float32))


# ----------------------------------------------------------------------------- protocol and tensors
@pytest.fixture
def toy_basins() -> xr.Dataset:
    """40 basins, two groups, daily data 2000-2003, simple attributes."""
    rng = np.random.default_rng(0)
    time = pd.date_range("2000-01-01", "2003-12-31", freq="D")
    n = 40
    basins = np.array([f"b{i:02d}" for i in range(n)])
    ds = xr.Dataset(
        {v: (("basin", "time"), rng.random((n, time.size)).astype(np.float32) + off)
         for v, off in (("prcp", 1), ("tmean", 5), ("pet", 1), ("qobs", 0))},
        coords={"basin": basins, "time": time},
    )
    ds["attr_a"] = ("basin", np.arange(n, dtype=float))
    ds["attr_b"] = ("basin", np.where(np.arange(n) % 5 == 0, np.nan, 10.0 * np.arange(n)))
    ds["climate_group"] = ("basin", np.where(np.arange(n) < 28, "arid_temperate", "cold_polar"))
    ds["region"] = ("basin", np.full(n, "toy"))
    return ds


def test_members_hold_every_basin_out_once_with_nested_fractions(toy_basins):
    members = pub.make_members(toy_basins, 4, (1.0, 0.5, 0.25), seed=7)
    assert len(members) == 2 * 4 * 3 and [m.index for m in members] == list(range(24))
    for frac in (1.0, 0.5, 0.25):
        held = [b for m in members if m.fraction == frac for b in m.test]
        assert sorted(held) == sorted(toy_basins["basin"].values.tolist())
    group = dict(zip(toy_basins["basin"].values, toy_basins["climate_group"].values))
    for m in members:
        assert not set(m.train) & set(m.test)
        assert {group[b] for b in m.train + m.test} == {m.group}  # folds stay inside the group
    by = {(m.group, m.fold, m.fraction): m for m in members}
    for (g, f, frac), m in by.items():
        if frac < 1.0:
            assert set(m.train) <= set(by[(g, f, frac * 2)].train)  # nested
    a = by[("arid_temperate", 0, 1.0)]
    assert len(a.test) == 7 and len(a.train) == 21 and len(by[("arid_temperate", 0, 0.25)].train) == 5
    again = pub.make_members(toy_basins, 4, (1.0, 0.5, 0.25), seed=7)
    assert again == members
    assert pub.make_members(toy_basins, 4, (1.0, 0.5, 0.25), seed=8) != members
    with pytest.raises(ValueError, match="must include 1.0"):
        pub.make_members(toy_basins, 4, (0.5, 0.25), seed=0)


def test_stack_columns_lines_up_members_basins_and_data(toy_basins):
    members = pub.make_members(toy_basins, 2, (1.0,), seed=0)
    period = TimeWindow("2001-01-01", "2001-12-31")
    tensors, cols = pub.stack_columns(toy_basins, members, "test", period, ("a", "b"), warmup=100)
    assert tensors.x.shape == (1, 40, 3) and tensors.n_time == 100 + 365
    assert cols["basin"].tolist() == [b for m in members for b in m.test]
    np.testing.assert_array_equal(tensors.x[0, :, 0], np.repeat(np.arange(len(members)), [len(m.test) for m in members]))
    j = 5
    b = cols["basin"][j]
    sel = toy_basins.sel(basin=b, time=slice("2000-09-23", "2001-12-31"))  # 100 warm-up days before 2001-01-01
    np.testing.assert_array_equal(tensors.target[:, j], sel["qobs"].values)
    np.testing.assert_array_equal(tensors.forcing["pet"][:, j], sel["pet"].values)
    a = toy_basins["attr_a"].values
    member = members[int(tensors.x[0, j, 0])]
    train_a = a[[int(t[1:]) for t in member.train]]   # the member's TRAINING basins' statistics only
    np.testing.assert_allclose(tensors.x[0, j, 1], (a[int(b[1:])] - train_a.mean()) / train_a.std(), rtol=1e-5)
    assert np.isfinite(tensors.x).all()  # the missing attr_b values became 0 (the mean)
    assert (tensors.x[0, cols["basin"].isin(["b00", "b05"]).values, 2] == 0).all()
    one, _ = pub.stack_columns(toy_basins, members[:1], "train", period, ("a", "b"), warmup=100)
    assert one.x.shape[-1] == 2  # a single member needs no id column
    with pytest.raises(ValueError, match="warm-up"):
        pub.stack_columns(toy_basins, members, "train", TimeWindow("2000-02-01", "2000-12-31"), ("a",), warmup=100)


def test_a_test_basin_never_shapes_the_attribute_scaling(toy_basins):
    """An extreme attribute value in a held-out basin changes no training column's input."""
    members = pub.make_members(toy_basins, 2, (1.0,), seed=0)
    period = TimeWindow("2001-01-01", "2001-12-31")
    before, _ = pub.stack_columns(toy_basins, members, "train", period, ("a",), warmup=100)
    held = members[0].test[0]
    edited = toy_basins.copy(deep=True)
    edited["attr_a"].loc[{"basin": held}] = 1e6
    after, cols = pub.stack_columns(edited, members, "train", period, ("a",), warmup=100)
    rows = (cols["member"] == members[0].index).values
    np.testing.assert_array_equal(after.x[0, rows], before.x[0, rows])
    seeds = pub.make_seed_members(toy_basins, 2, (1.0,), seeds=[0, 1])
    n = len(members)   # one member per (group, fold) and seed
    assert [m.seed for m in seeds] == [0] * n + [1] * n and [m.index for m in seeds] == list(range(2 * n))


def test_fraction_to_match_picks_the_smallest_fraction_reaching_the_target():
    curve = pd.Series({1.0: 0.62, 0.5: 0.60, 0.25: 0.55, 0.125: 0.59})
    assert pub.fraction_to_match(curve, 0.58) == 0.125
    assert pub.fraction_to_match(curve, 0.61) == 1.0
    assert pub.fraction_to_match(curve, 0.7) is None
    assert pub.fraction_to_match(pd.Series({1.0: np.nan}), 0.0) is None


def test_small_climate_groups_join_the_largest(toy_basins):
    ds = toy_basins.drop_vars("climate_group")
    months = np.stack([_months(-10, 20)] * 5 + [_months(3, 17)] * 35)
    ds["t_monthly"] = (("basin", "month"), months)
    ds["aridity_index"] = ("basin", np.ones(40))
    out, table = pub.assign_climate_groups(ds, min_group_basins=6)
    assert (out["climate_group_raw"].values == "cold_polar").sum() == 5
    assert set(out["climate_group"].values) == {"arid_temperate"}
    assert table.loc[("cold_polar", "arid_temperate"), "total"] == 5
    assert table.loc[("arid_temperate", "arid_temperate"), "total"] == 35
    assert table["total"].sum() == 40  # tropical listed with 0 basins
    out, _ = pub.assign_climate_groups(ds, min_group_basins=5)
    assert set(out["climate_group"].values) == {"arid_temperate", "cold_polar"}


# ----------------------------------------------------------------------------- data and a short training
def test_twin_pub_basins_and_a_short_training_beats_mid_range_parameters(isolated_data_dir, one_torch_thread):
    """No real data: the twin stands in. Fitting LTF coefficients jointly over training basins
    must beat the untrained (mid-range parameter) transfer functions on held-out basins."""
    cfg = dataclasses.replace(
        pub.PROFILES["quick"], n_synthetic=24, k_folds=2, fractions=(1.0,), min_group_basins=30,
        ltf_training=dataclasses.replace(pub.PROFILES["quick"].ltf_training, epochs=6, learning_rate=3e-2))
    ds, choice, sets = pub.load_pub_basins("auto", cfg, seed=1)
    assert choice.source == "synthetic" and ds.sizes["basin"] == 24
    assert (ds["pet"] >= 0).all() and float(ds["pet"].mean()) > 0.5 and ds["pet"].attrs["long_name"] == "PET (oudin)"
    ds, _ = pub.assign_climate_groups(ds, cfg.min_group_basins)
    members = pub.make_members(ds, cfg.k_folds, cfg.fractions, cfg.seed)
    attrs = sets["8"]
    train, _ = pub.stack_columns(ds, members, "train", cfg.train_period, attrs, cfg.warmup)
    test, cols = pub.stack_columns(ds, members, "test", cfg.test_period, attrs, cfg.warmup)
    before = Trainer(pub.make_pub_model("ltf8", len(attrs), len(members), cfg),
                     TrainConfig(device="cpu", progress=False))
    kge_before = pub.score_members(before, test, cols, cfg.warmup)["kge"].median()
    trainer = pub.train_members("ltf8", train, len(members), len(attrs), cfg, device="cpu", progress=False)
    kge_after = pub.score_members(trainer, test, cols, cfg.warmup)["kge"].median()
    assert trainer.history.loss[-1] < trainer.history.loss[0]
    assert kge_after > kge_before + 0.1, (kge_before, kge_after)


def test_real_pub_basins_have_uniform_inputs_and_attributes(camels_us_path, camels_gb_path, caravan_path):
    cfg = dataclasses.replace(pub.PROFILES["quick"], n_basins_us=6, n_basins_gb=5)
    ds, choice, sets = pub.load_pub_basins("real", cfg, seed=0)
    assert choice.source == "real"
    assert ds["region"].to_series().value_counts().to_dict() == {"US": 6, "GB": 5}
    assert all(str(b).startswith(("camels_", "camelsgb_")) for b in ds["basin"].values)
    assert len(sets["8"]) == 8 and len(sets["large"]) == 27 and set(sets["8"]) < set(sets["large"])
    for a in sets["large"]:
        assert f"attr_{a}" in ds, a
    np.testing.assert_allclose(ds["aridity_index"].values, 100 / ds["attr_ari_ix_sav"].values)
    t0 = pd.Timestamp(cfg.test_period.start) - pd.Timedelta(days=cfg.warmup)
    sub = ds.sel(time=slice(t0, cfg.train_period.end))
    for v in ("prcp", "tmean", "pet"):
        assert bool(sub[v].notnull().all()), v
    # Oudin PET: zero below -5 degC, 1-6 mm/day in a temperate summer
    summer = sub["pet"].sel(time=sub["time"].dt.month == 7).mean("time")
    assert float(summer.min()) > 1.0 and float(summer.max()) < 7.0
    assert ds["t_monthly"].shape == (11, 12)
    mapping = pub.attribute_table("real")
    assert mapping["column"].is_unique and len(mapping) == 27
    assert not mapping["column"].str.contains("run_mm|dis_m3").any()  # no streamflow-derived attribute
