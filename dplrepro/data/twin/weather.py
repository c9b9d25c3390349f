"""The twin's weather generator: per-site climate, daily weather and smooth random fields.

Every component draws from its own stream :func:`random_stream` =
``np.random.default_rng([seed, crc32(name)])``, so the output depends only on the arguments
(bitwise-identical for the same arguments) and changing one component does not reshuffle
the others. Units: precipitation mm/day, temperatures degC, coordinates degrees.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

__all__ = ["random_stream", "smooth_field", "sigmoid", "Climate", "site_climate", "daily_weather", "daily_times",
           "check_seed_and_noise"]


def random_stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of component ``name``: ``default_rng([seed, crc32(name)])``."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def smooth_field(lat: Any, lon: Any, rng: np.random.Generator, length_scale_deg: float = 8.0, n_features: int = 128) -> np.ndarray:
    """A spatially smooth random field over (lat, lon), roughly N(0, 1) at every point.

    Random Fourier features (Rahimi & Recht 2007): ``sqrt(2/M) * sum_m a_m cos(w_m . x + b_m)``
    with ``w_m ~ N(0, I / length_scale^2)``, ``b_m ~ U(0, 2 pi)``, ``a_m ~ N(0, 1)``, which
    approximates a Gaussian process with a squared-exponential covariance of that length
    scale. ``x = (lon * cos(38 deg), lat)`` in degrees (a crude equal-distance projection).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    x = np.stack([lon * math.cos(math.radians(38.0)), lat], axis=-1)
    w = rng.normal(0.0, 1.0 / length_scale_deg, size=(n_features, 2))
    b = rng.uniform(0.0, 2.0 * math.pi, size=n_features)
    a = rng.normal(0.0, 1.0, size=n_features)
    # Half of the variance from cos features gives var(a cos(.)) = 1/2, hence sqrt(2/M).
    return math.sqrt(2.0 / n_features) * np.cos(x @ w.T + b) @ a


def sigmoid(x: Any) -> Any:
    """Logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Climate:
    """Per-site climate descriptors that drive the weather generator."""

    p_clim: np.ndarray  # long-term mean precipitation, mm/day
    p_season: np.ndarray  # relative amplitude of a winter (15 Jan) peak, negative = summer peak
    t_mean: np.ndarray  # annual mean temperature, degC
    t_amp: np.ndarray  # seasonal half-amplitude, degC
    dtr: np.ndarray  # mean diurnal temperature range, degC


def site_climate(lat: np.ndarray, lon: np.ndarray, elev: np.ndarray, seed: int) -> Climate:
    """Climate of sites at ``lat``/``lon`` (degrees) and ``elev`` (m): wetter east and Pacific
    north-west, colder north and uphill, larger diurnal range in the dry west."""
    z_p = smooth_field(lat, lon, random_stream(seed, "field:precipitation"), 10.0)
    z_t = smooth_field(lat, lon, random_stream(seed, "field:temperature"), 10.0)
    z_d = smooth_field(lat, lon, random_stream(seed, "field:dtr"), 10.0)
    west = sigmoid((-104.0 - lon) / 3.0)  # 1 in the (dry, mountainous) west
    coast = np.exp(-(((lon + 123.0) / 2.5) ** 2)) * sigmoid((lat - 40.0) / 2.0)  # Pacific north-west
    log_p = math.log(3.0) + 0.45 * np.tanh((lon + 98.0) / 6.0) + 0.9 * coast + 0.3 * z_p
    p_clim = np.exp(log_p)
    p_season = 0.6 * sigmoid((-114.0 - lon) / 2.0) - 0.35 * sigmoid((lon + 104.0) / 3.0) * sigmoid((-92.0 - lon) / 3.0)
    t_mean = 27.0 - 0.72 * (lat - 25.0) - 0.0065 * elev + 1.0 * z_t
    t_amp = 4.0 + 0.3 * (lat - 25.0) + 3.0 * sigmoid((lon + 117.0) / 2.0)
    dtr = 9.0 + 5.0 * west + 1.0 * z_d
    return Climate(p_clim, p_season, t_mean, t_amp, np.maximum(dtr, 4.0))


def daily_weather(clim: Climate, doy: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Daily weather ``[time, site]``: precipitation, mean temperature, diurnal range, wet flag.

    Precipitation: two-state (wet/dry) first-order Markov chain with a seasonally varying
    wet-day probability ``pi_t`` and persistence ``rho = 0.35`` (``p11 = pi + rho (1 - pi)``,
    ``p01 = pi (1 - rho)``, so the stationary wet fraction is ``pi``), and gamma wet-day amounts
    (shape 0.8) with mean ``p_clim * season_t / pi_t``. Temperature: seasonal cycle peaking on
    day 200 plus AR(1) anomalies (lag-1 correlation 0.75, standard deviation 2.5 degC).
    """
    n_time, n_site = len(doy), len(clim.p_clim)
    season = 1.0 + clim.p_season[None, :] * np.cos(2.0 * math.pi * (doy[:, None] - 15.0) / 365.25)
    pi0 = np.clip(0.06 + 0.09 * clim.p_clim, 0.06, 0.55)
    pi_t = np.clip(pi0[None, :] * np.sqrt(season), 0.03, 0.8)
    rho = 0.35
    p11 = pi_t + rho * (1.0 - pi_t)
    p01 = pi_t * (1.0 - rho)
    u = random_stream(seed, "weather:wet").random((n_time, n_site))
    wet = np.zeros((n_time, n_site), dtype=bool)
    state = u[0] < pi_t[0]
    wet[0] = state
    for t in range(1, n_time):
        state = u[t] < np.where(state, p11[t], p01[t])
        wet[t] = state
    shape = 0.8
    amounts = random_stream(seed, "weather:amount").gamma(shape, 1.0, size=(n_time, n_site)) / shape
    mean_wet = clim.p_clim[None, :] * season / pi_t
    prcp = np.where(wet, amounts * mean_wet, 0.0)

    phi, sigma = 0.75, 2.5
    eps = random_stream(seed, "weather:temperature").normal(0.0, 1.0, size=(n_time, n_site))
    eps[1:] *= sigma * math.sqrt(1.0 - phi * phi)
    eps[0] *= sigma  # start from the stationary distribution
    anomaly = lfilter([1.0], [1.0, -phi], eps, axis=0)
    cycle = clim.t_amp[None, :] * np.cos(2.0 * math.pi * (doy[:, None] - 200.0) / 365.25)
    tmean = clim.t_mean[None, :] + cycle + anomaly
    dtr_noise = random_stream(seed, "weather:dtr").normal(0.0, 0.15, size=(n_time, n_site))
    dtr = clim.dtr[None, :] * np.where(wet, 0.65, 1.0) * np.exp(dtr_noise)
    return {"prcp": prcp, "tmean": tmean, "dtr": dtr, "wet": wet}



def daily_times(start: Any, end: Any) -> pd.DatetimeIndex:
    """Daily time axis from ``start`` to ``end`` (inclusive); ``start`` must be before ``end``."""
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if not t0 < t1:
        raise ValueError(f"start must be before end; got start={t0.date()}, end={t1.date()}")
    return pd.date_range(t0, t1, freq="D")


def check_seed_and_noise(seed: int, noise: float) -> None:
    """Validate the generators' common arguments: ``seed`` integer >= 0, ``noise`` finite >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite non-negative number; got {noise!r}")
