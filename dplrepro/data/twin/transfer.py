"""The twin's hidden truth: true parameters from attributes, and the metadata that records it.

The *true transfer function* maps static attributes to parameters:
``param = low + (high - low) * sigmoid(b + sum_j w_j z_j)`` over attributes normalised by
fixed numbers, ``z_j = (f(a_j) - centre_j) / scale_j`` (``f`` = identity or natural log;
:data:`BASIN_ATTRIBUTE_SCALING`, :data:`GRID_ATTRIBUTE_SCALING`), with the weights of
:data:`TRUE_TRANSFER_BASINS` / :data:`TRUE_TRANSFER_GRID` (parameters of a simulator passed
in that the tables do not list get a deterministic one-attribute transfer). Each generated
dataset records it in ``ds.attrs`` (:func:`twin_attrs`) and stores the hidden parameters as
``true_<PARAM>`` (:func:`true_parameter_variables`).
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Mapping

import numpy as np

from ...physics.parameters import ParameterSpec
from .simulators import TwinSimulator

__all__ = [
    "DATA_SOURCE",
    "BASIN_ATTRIBUTE_SCALING",
    "GRID_ATTRIBUTE_SCALING",
    "TRUE_TRANSFER_BASINS",
    "TRUE_TRANSFER_GRID",
    "normalise_attributes",
    "true_parameters",
    "describe_transfer",
    "transfer_parameters",
    "true_parameter_variables",
    "twin_attrs",
]

#: ``ds.attrs["data_source"]`` of every twin dataset.
DATA_SOURCE = "synthetic twin (dplrepro.data.twin)"

#: Fixed normalisation of basin attributes for the true transfer function:
#: ``z = (f(a) - centre) / scale`` with ``f`` = identity or natural log. Fixed numbers (not
#: sample statistics), so the transfer function does not depend on which basins are drawn.
BASIN_ATTRIBUTE_SCALING: dict[str, tuple[str, float, float]] = {
    "attr_p_mean": ("log", math.log(2.5), 0.5),
    "attr_pet_mean": ("identity", 3.0, 0.8),
    "attr_aridity": ("log", 0.0, 0.6),
    "attr_frac_snow": ("identity", 0.15, 0.15),
    "attr_elev_mean": ("identity", 800.0, 600.0),
    "attr_slope_mean": ("log", math.log(40.0), 0.8),
    "attr_sand_frac": ("identity", 40.0, 15.0),
    "attr_clay_frac": ("identity", 20.0, 8.0),
    "attr_frac_forest": ("identity", 0.5, 0.3),
    "attr_soil_depth_pelletier": ("log", math.log(5.0), 0.8),
}
#: Fixed normalisation of grid-cell constants (as :data:`BASIN_ATTRIBUTE_SCALING`).
GRID_ATTRIBUTE_SCALING: dict[str, tuple[str, float, float]] = {
    "sand": ("identity", 50.0, 15.0),
    "clay": ("identity", 15.0, 7.0),
    "silt": ("identity", 30.0, 12.0),
    "bulk": ("identity", 1.45, 0.1),
    "capa": ("identity", 0.15, 0.05),
    "ndvi": ("identity", 0.4, 0.15),
}

#: True transfer function of the basin twin: ``param = low + (high - low) *
#: sigmoid(intercept + sum_j weight_j * z_j)``; the first listed attribute is the driver.
TRUE_TRANSFER_BASINS: dict[str, tuple[float, dict[str, float]]] = {
    "TT": (0.0, {"attr_elev_mean": 1.2, "attr_frac_forest": -0.3}),
    "CFMAX": (0.0, {"attr_frac_forest": -1.2, "attr_elev_mean": 0.3}),
    "FC": (0.0, {"attr_soil_depth_pelletier": 1.2, "attr_clay_frac": 0.4}),
    "BETA": (-0.3, {"attr_clay_frac": 1.2, "attr_aridity": 0.3}),
    "LP": (0.3, {"attr_aridity": 1.2, "attr_frac_forest": 0.3}),
    "K1": (0.0, {"attr_slope_mean": 1.2, "attr_sand_frac": -0.3}),
    "K2": (-1.0, {"attr_soil_depth_pelletier": -1.2, "attr_sand_frac": 0.3}),
    "PERC": (0.0, {"attr_sand_frac": 1.2, "attr_slope_mean": -0.3}),
}
#: True transfer function of the grid twin (same form as :data:`TRUE_TRANSFER_BASINS`).
TRUE_TRANSFER_GRID: dict[str, tuple[float, dict[str, float]]] = {
    "POROSITY": (0.0, {"bulk": -1.2, "clay": 0.3}),
    "FC_FRAC": (0.0, {"capa": 1.2, "sand": -0.3}),
    "INFILT": (-0.5, {"ndvi": -1.2, "clay": 0.4}),
    "DRAIN_K": (0.0, {"sand": 1.2, "clay": -0.3}),
}


def normalise_attributes(values: Mapping[str, Any], scaling: Mapping[str, tuple[str, float, float]]) -> dict[str, np.ndarray]:
    """``z = (f(a) - centre) / scale`` for every attribute of ``scaling`` (see the tables)."""
    out = {}
    for name, (kind, centre, scale) in scaling.items():
        if name not in values:
            raise ValueError(f"attribute {name!r} is needed by the true transfer function but was not generated")
        a = np.asarray(values[name], dtype=np.float64)
        if kind == "log":
            a = np.log(np.maximum(a, 1e-12))
        elif kind != "identity":
            raise ValueError(f"unknown attribute transform {kind!r} for {name!r}")
        out[name] = (a - centre) / scale
    return out


def _generic_transfer(param: str, attributes: list[str]) -> tuple[float, dict[str, float]]:
    """Transfer for a parameter without a table entry (e.g. of a simulator passed in).

    Deterministic from the name: driver = ``sorted(attributes)[crc32(name) % n]``, weight
    ``+1.2`` if ``crc32(name)`` is even else ``-1.2``, intercept 0.
    """
    h = zlib.crc32(param.encode())
    names = sorted(attributes)
    return 0.0, {names[h % len(names)]: 1.2 if h % 2 == 0 else -1.2}


def _resolve_transfer(
    parameters: Mapping[str, ParameterSpec], table: Mapping[str, tuple[float, dict[str, float]]], attributes: list[str]
) -> dict[str, tuple[float, dict[str, float]]]:
    return {name: table[name] if name in table else _generic_transfer(name, attributes) for name in parameters}


def true_parameters(
    z: Mapping[str, np.ndarray],
    parameters: Mapping[str, ParameterSpec],
    transfer: Mapping[str, tuple[float, Mapping[str, float]]],
) -> dict[str, np.ndarray]:
    """Apply the true transfer function: ``low + (high - low) * sigmoid(b + sum w_j z_j)``."""
    out = {}
    for name, spec in parameters.items():
        low, high = float(spec.low), float(spec.high)
        if name not in transfer:
            raise ValueError(f"no transfer-function entry for parameter {name!r}")
        intercept, weights = transfer[name]
        eta = np.full(np.shape(next(iter(z.values()))), float(intercept))
        for attr, w in weights.items():
            if attr not in z:
                raise ValueError(f"transfer function of {name!r} uses attribute {attr!r}, which is not available")
            eta = eta + w * z[attr]
        out[name] = low + (high - low) / (1.0 + np.exp(-eta))
    return out


def describe_transfer(
    transfer: Mapping[str, tuple[float, Mapping[str, float]]],
    parameters: Mapping[str, ParameterSpec],
    scaling: Mapping[str, tuple[str, float, float]],
) -> str:
    """Human-readable statement of a true transfer function (stored in ``ds.attrs``)."""
    lines = ["param = low + (high - low) * sigmoid(b + sum_j w_j * z_j), z_j = (f(a_j) - centre_j) / scale_j"]
    for name, (kind, centre, scale) in scaling.items():
        f = "log(a)" if kind == "log" else "a"
        lines.append(f"  z[{name}] = ({f} - {centre:.6g}) / {scale:.6g}")
    for name, (b, weights) in transfer.items():
        spec = parameters[name]
        terms = " ".join(f"{w:+.3g}*z[{a}]" for a, w in weights.items())
        lines.append(f"  {name} in [{spec.low:.6g}, {spec.high:.6g}] {spec.unit}: sigmoid({b:+.3g} {terms})")
    return "\n".join(lines)


def transfer_parameters(
    values: Mapping[str, Any],
    parameters: Mapping[str, ParameterSpec],
    table: Mapping[str, tuple[float, dict[str, float]]],
    scaling: Mapping[str, tuple[str, float, float]],
) -> tuple[dict[str, np.ndarray], dict[str, tuple[float, dict[str, float]]]]:
    """True parameters ``{name: (site,)}`` from raw attribute ``values``, and the transfer used.

    Normalises ``values`` with ``scaling``, takes each parameter's entry of ``table`` (or the
    generic one-attribute transfer) and applies :func:`true_parameters`.
    """
    z = normalise_attributes(values, scaling)
    transfer = _resolve_transfer(parameters, table, list(scaling))
    return true_parameters(z, parameters, transfer), transfer


def true_parameter_variables(parameters: Mapping[str, ParameterSpec], theta: Mapping[str, np.ndarray], dim: str) -> dict[str, Any]:
    """``true_<P>`` data variables (dim ``dim``) with the parameter's units, meaning and bounds."""
    return {
        f"true_{name}": (dim, theta[name], {
            "units": spec.unit, "long_name": f"true {name}: {spec.description}", "low": float(spec.low), "high": float(spec.high),
        })
        for name, spec in parameters.items()
    }


def twin_attrs(
    sim: TwinSimulator,
    transfer: Mapping[str, tuple[float, Mapping[str, float]]],
    scaling: Mapping[str, tuple[str, float, float]],
    seed: int,
) -> dict[str, Any]:
    """Global attributes shared by the twin datasets: source, seed, simulator and true transfer function."""
    return {
        "data_source": DATA_SOURCE,
        "seed": int(seed),
        "simulator": sim.name,
        "simulator_description": sim.description,
        "true_transfer_function": describe_transfer(transfer, sim.parameters, scaling),
    }
