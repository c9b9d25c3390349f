"""Per-variable normalisation fitted on training data only and saved with the model.

:class:`Normalizer` learns, for each variable, ``mean`` and ``std`` of the (optionally
transformed) values over the training data, ignoring NaN, and maps

``z = (T(x) - mean) / std``,   ``x = T^-1(z * std + mean)``

where ``T`` is ``"none"`` (identity), ``"log1p"`` (``log(1 + x)``) or ``"sqrt"`` -- the
latter two for skewed non-negative variables such as precipitation and streamflow.
``std`` is the population standard deviation (``ddof=0``, as ``numpy.nanstd``).

Fit it on the *training* slice (e.g. ``TimeWindow.select(ds)``) so that test-period values
never leak into the statistics. The fitted state is a plain JSON-serialisable dict
(:meth:`Normalizer.to_dict`; floats round-trip exactly through ``json``), also available as
:meth:`Normalizer.state_dict` / :meth:`Normalizer.load_state_dict` to store it inside a
torch checkpoint.

Statistics are scalars by default (reduced over all dims of the variable). ``fit(...,
dims=("time",))`` keeps the other dims (e.g. per-basin statistics); such statistics are
applied to DataArrays by dimension name and to NumPy arrays / tensors by broadcasting
against the statistics array laid out in the stored dim order (a ``[time, site]`` array
broadcasts against per-site statistics).

A variable whose standard deviation is zero (constant over the training data) is an error
by default; ``Normalizer(on_zero_std="unit")`` instead uses ``std = 1`` for it (centring
only) and records that in the state.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import xarray as xr

from .errors import DataFormatError

__all__ = ["Normalizer", "TRANSFORMS", "NotFittedError"]

#: Transforms applied before standardisation.
TRANSFORMS = ("none", "log1p", "sqrt")

_FORMAT = "dplrepro.Normalizer"
_VERSION = 1


class NotFittedError(RuntimeError):
    """The normalizer was used before :meth:`Normalizer.fit` or :meth:`Normalizer.from_dict`."""


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


class Normalizer:
    """Standardise variables with statistics fitted on training data.

    Parameters
    ----------
    transforms : default per-variable transforms, ``{name: "none"|"log1p"|"sqrt"}``;
        variables not listed use ``"none"``. ``fit(..., transforms=...)`` overrides them.
    on_zero_std : ``"error"`` (default) raises :class:`DataFormatError` for a constant
        variable; ``"unit"`` uses ``std = 1`` for it.
    """

    def __init__(self, transforms: Mapping[str, str] | None = None, on_zero_std: str = "error") -> None:
        if on_zero_std not in ("error", "unit"):
            raise ValueError(f"on_zero_std must be 'error' or 'unit'; got {on_zero_std!r}")
        self.transforms: dict[str, str] = dict(transforms or {})
        for name, t in self.transforms.items():
            _check_transform(name, t)
        self.on_zero_std = on_zero_std
        self._stats: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        return bool(self._stats)

    @property
    def variables(self) -> list[str]:
        return list(self._stats)

    def fit(
        self,
        data: xr.Dataset,
        variables: Iterable[str] | None = None,
        dims: str | Sequence[str] | None = None,
        transforms: Mapping[str, str] | None = None,
    ) -> "Normalizer":
        """Fit statistics of ``variables`` (default: every data variable) on ``data``.

        ``dims`` are the dimensions reduced over (default: all of each variable's dims,
        giving scalar statistics). Variables already fitted are refitted; others are kept.
        Returns ``self``.
        """
        if not isinstance(data, xr.Dataset):
            raise TypeError(f"Normalizer.fit expects an xarray.Dataset; got {type(data).__name__}")
        names = list(data.data_vars) if variables is None else [variables] if isinstance(variables, str) else list(variables)
        if not names:
            raise ValueError("Normalizer.fit: no variables to fit")
        trans = dict(self.transforms)
        if transforms:
            for name, t in transforms.items():
                _check_transform(name, t)
            trans.update(transforms)
        for name in names:
            if name not in data:
                raise DataFormatError(f"cannot fit normaliser: variable {name!r} is not in the dataset (has {list(data.data_vars)})")
            da = data[name]
            if not np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.bool_):
                raise DataFormatError(f"cannot fit normaliser: variable {name!r} is not numeric (dtype {da.dtype})")
            t = trans.get(name, "none")
            reduce_dims = list(da.dims) if dims is None else [dims] if isinstance(dims, str) else list(dims)
            missing = [d for d in reduce_dims if d not in da.dims]
            if missing:
                raise DataFormatError(f"cannot fit normaliser: variable {name!r} has dims {da.dims}, not {missing}")
            keep = [d for d in da.dims if d not in reduce_dims]
            da = da.transpose(*keep, *reduce_dims)
            values = np.asarray(da.values, dtype=np.float64)
            _check_domain(name, t, values)
            tv = _forward_np(values, t)
            flat = tv.reshape(tv.shape[: len(keep)] + (-1,))
            count = np.sum(np.isfinite(flat), axis=-1)
            if np.any(count == 0):
                raise DataFormatError(f"cannot fit normaliser: variable {name!r} has no finite values in the training data")
            with np.errstate(invalid="ignore"):
                mean = np.nanmean(flat, axis=-1)
                std = np.nanstd(flat, axis=-1)
            zero = ~(std > 0)
            unit = False
            if np.any(zero):
                if self.on_zero_std == "error":
                    raise DataFormatError(
                        f"cannot normalise variable {name!r}: its standard deviation over the training data is 0 "
                        "(constant); drop it or use Normalizer(on_zero_std='unit')"
                    )
                std = np.where(zero, 1.0, std)
                unit = True
            self._stats[name] = {
                "transform": t,
                "mean": _to_list(mean),
                "std": _to_list(std),
                "count": _to_list(count.astype(np.int64)),
                "reduce_dims": reduce_dims,
                "dims": keep,
                "coords": {d: _coord_list(da[d]) for d in keep if d in da.coords},
                "zero_std_set_to_one": unit,
            }
        return self

    # ------------------------------------------------------------------ accessors
    def _get(self, variable: str) -> dict[str, Any]:
        if not self._stats:
            raise NotFittedError("Normalizer is not fitted: call fit() on the training data (or from_dict()) first")
        if variable not in self._stats:
            raise ValueError(f"Normalizer was not fitted on variable {variable!r}; fitted variables: {sorted(self._stats)}")
        return self._stats[variable]

    def stats(self, variable: str) -> dict[str, Any]:
        """``{"transform", "mean", "std", "count", ...}`` of ``variable`` (a copy)."""
        s = self._get(variable)
        return {k: (list(v) if isinstance(v, list) else v) for k, v in s.items()}

    def mean(self, variable: str) -> float | np.ndarray:
        return _from_list(self._get(variable)["mean"])

    def std(self, variable: str) -> float | np.ndarray:
        return _from_list(self._get(variable)["std"])

    def _stat_da(self, variable: str, key: str, x: xr.DataArray) -> xr.DataArray:
        """Statistic ``key`` as a DataArray, selected at ``x``'s coordinates (no silent joins)."""
        s = self._get(variable)
        missing_dims = [d for d in s["dims"] if d not in x.dims]
        if missing_dims:
            raise ValueError(f"variable {variable!r} has statistics per {missing_dims}, but the data have dims {x.dims}")
        coords = {}
        for d in s["dims"]:
            if d in s["coords"]:
                values = s["coords"][d]
                if d in x.coords and np.issubdtype(x[d].dtype, np.datetime64):
                    values = np.asarray(values, dtype="datetime64[ns]")
                coords[d] = values
        da = xr.DataArray(np.asarray(s[key], dtype=np.float64), dims=s["dims"], coords=coords)
        for d in coords:
            if d in x.coords:
                wanted = x[d].values
                known = set(np.asarray(da[d].values).tolist())
                absent = [v for v in np.asarray(wanted).tolist() if v not in known]
                if absent:
                    raise ValueError(
                        f"variable {variable!r}: no fitted statistics for {d} {absent[:5]}"
                        f"{' ...' if len(absent) > 5 else ''} (fitted on {len(known)} entries)"
                    )
                da = da.sel({d: wanted})
        return da

    # ------------------------------------------------------------------ transforms
    def transform(self, x: Any, variable: str | Sequence[str]) -> Any:
        """Normalise ``x`` (NumPy array, scalar, DataArray or torch tensor).

        ``variable`` is one fitted variable name, or a list of names whose order matches
        the *last* axis of ``x`` (e.g. a ``[time, site, feature]`` tensor); the latter
        needs scalar statistics.
        """
        return self._apply(x, variable, inverse=False)

    def inverse_transform(self, z: Any, variable: str | Sequence[str]) -> Any:
        """Map normalised values back to physical units (inverse of :meth:`transform`).

        For ``"sqrt"`` negative de-standardised values (outside the transform's range,
        e.g. from a network) are clipped to 0 before squaring.
        """
        return self._apply(z, variable, inverse=True)

    def _apply(self, x: Any, variable: str | Sequence[str], inverse: bool) -> Any:
        if isinstance(variable, str):
            return self._apply_one(x, variable, inverse)
        names = list(variable)
        for n in names:
            s = self._get(n)
            if s["dims"]:
                raise ValueError(f"variable {n!r} has per-{'/'.join(s['dims'])} statistics; transform it on its own, not stacked")
        shape = tuple(x.shape)
        if not shape or shape[-1] != len(names):
            raise ValueError(f"last axis of x must have one entry per variable ({len(names)}: {names}); got shape {shape}")
        if isinstance(x, xr.DataArray):
            raise TypeError("stacked transform takes NumPy arrays or torch tensors; transform DataArrays per variable")
        parts = [self._apply_one(x[..., i], n, inverse) for i, n in enumerate(names)]
        if _is_torch(x):
            import torch

            return torch.stack(parts, dim=-1)
        return np.stack(parts, axis=-1)

    def _apply_one(self, x: Any, variable: str, inverse: bool) -> Any:
        s = self._get(variable)
        t = s["transform"]
        if isinstance(x, xr.DataArray):
            mean = self._stat_da(variable, "mean", x)
            std = self._stat_da(variable, "std", x)
            if not inverse:
                _check_domain(variable, t, x.values)
                out = (_forward_xr(x, t) - mean) / std
            else:
                out = _inverse_xr(x * std + mean, t)
            out.attrs = _normalised_attrs(x.attrs, t, inverse)
            out.name = x.name
            return out
        mean = _from_list(s["mean"])
        std = _from_list(s["std"])
        if _is_torch(x):
            import torch

            if not torch.is_floating_point(x):
                x = x.to(torch.get_default_dtype())
            m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
            sd = torch.as_tensor(std, dtype=x.dtype, device=x.device)
            if not inverse:
                _check_domain(variable, t, x)
                return (_forward_torch(x, t) - m) / sd
            return _inverse_torch(x * sd + m, t)
        arr = np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating) else x
        if not inverse:
            _check_domain(variable, t, arr)
            return (_forward_np(arr, t) - mean) / std
        return _inverse_np(arr * std + mean, t)

    def transform_dataset(self, ds: xr.Dataset, variables: Iterable[str] | None = None) -> xr.Dataset:
        """Normalise the fitted variables present in ``ds`` (or exactly ``variables``).

        Other variables are returned unchanged. As for any DataArray passed to
        :meth:`transform`, each transformed variable's attrs record ``normalized=<transform>``
        and ``units="1"``; its original units go to ``units_physical`` (restored by the
        inverse).
        """
        return self._dataset(ds, variables, inverse=False)

    def inverse_transform_dataset(self, ds: xr.Dataset, variables: Iterable[str] | None = None) -> xr.Dataset:
        """Inverse of :meth:`transform_dataset` (restores the physical units attribute)."""
        return self._dataset(ds, variables, inverse=True)

    def _dataset(self, ds: xr.Dataset, variables: Iterable[str] | None, inverse: bool) -> xr.Dataset:
        if not self._stats:
            raise NotFittedError("Normalizer is not fitted: call fit() on the training data (or from_dict()) first")
        if variables is None:
            names = [v for v in self._stats if v in ds.data_vars]
        else:
            names = [variables] if isinstance(variables, str) else list(variables)
            for n in names:
                if n not in ds:
                    raise DataFormatError(f"variable {n!r} is not in the dataset to be normalised")
        out = ds.copy()
        for n in names:
            da = self._apply_one(ds[n], n, inverse)
            out[n] = da.transpose(*ds[n].dims)
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (lists of Python floats/ints/strings only)."""
        if not self._stats:
            raise NotFittedError("Normalizer is not fitted: nothing to save")
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "on_zero_std": self.on_zero_std,
            "transforms": dict(self.transforms),
            "stats": {
                name: {
                    **{k: v for k, v in s.items() if k not in ("reduce_dims", "dims", "coords")},
                    "reduce_dims": list(s["reduce_dims"]),
                    "dims": list(s["dims"]),
                    "coords": {d: list(c) for d, c in s["coords"].items()},
                }
                for name, s in self._stats.items()
            },
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> "Normalizer":
        """Rebuild a fitted normaliser from :meth:`to_dict` output."""
        obj = cls(transforms=state.get("transforms") or {}, on_zero_std=state.get("on_zero_std", "error"))
        obj.load_state_dict(state)
        return obj

    def state_dict(self) -> dict[str, Any]:
        """Same as :meth:`to_dict`; for ``torch.save`` alongside the model."""
        return self.to_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the fitted state with ``state`` (from :meth:`to_dict`)."""
        if state.get("format") != _FORMAT:
            raise DataFormatError(f"not a normaliser state: format is {state.get('format')!r}, expected {_FORMAT!r}")
        if state.get("version") != _VERSION:
            raise DataFormatError(f"unsupported normaliser state version {state.get('version')!r}; expected {_VERSION}")
        stats: dict[str, dict[str, Any]] = {}
        for name, s in state["stats"].items():
            _check_transform(name, s["transform"])
            stats[name] = {
                "transform": s["transform"],
                "mean": _copy_nested(s["mean"]),
                "std": _copy_nested(s["std"]),
                "count": _copy_nested(s["count"]),
                "reduce_dims": list(s["reduce_dims"]),
                "dims": list(s["dims"]),
                "coords": {d: list(c) for d, c in s.get("coords", {}).items()},
                "zero_std_set_to_one": bool(s.get("zero_std_set_to_one", False)),
            }
        self.transforms = dict(state.get("transforms") or {})
        self.on_zero_std = state.get("on_zero_std", self.on_zero_std)
        self._stats = stats

    def __repr__(self) -> str:
        if not self._stats:
            return "Normalizer(not fitted)"
        parts = []
        for n, s in self._stats.items():
            if s["dims"]:
                parts.append(f"{n}[{s['transform']}, per {','.join(s['dims'])}]")
            else:
                parts.append(f"{n}[{s['transform']}: mean={s['mean']:.4g}, std={s['std']:.4g}]")
        return "Normalizer(" + "; ".join(parts) + ")"


# ---------------------------------------------------------------------- helpers
def _normalised_attrs(attrs: Mapping[str, Any], t: str, inverse: bool) -> dict[str, Any]:
    """Attrs of a (de-)normalised DataArray: ``units`` becomes "1" and back."""
    out = dict(attrs)
    if not inverse:
        if "units" in out and "units_physical" not in out:
            out["units_physical"] = out["units"]
        out["units"] = "1"
        out["normalized"] = t
    else:
        out.pop("normalized", None)
        if "units_physical" in out:
            out["units"] = out.pop("units_physical")
    return out


def _check_transform(name: str, t: str) -> None:
    if t not in TRANSFORMS:
        raise ValueError(f"unknown transform {t!r} for variable {name!r}; expected one of {TRANSFORMS}")


def _check_domain(name: str, t: str, values: Any) -> None:
    if t == "none":
        return
    if _is_torch(values):
        negative = bool((values < 0).any())
        vmin = float(values.detach().nan_to_num(nan=0.0).min()) if negative else 0.0
    else:
        v = np.asarray(values)
        negative = bool(np.any(v < 0))  # NaN compares False
        vmin = float(np.nanmin(v)) if negative else 0.0
    if negative:
        raise DataFormatError(
            f"variable {name!r} has negative values (min {vmin}); transform {t!r} needs non-negative data"
        )


def _forward_np(x: np.ndarray, t: str) -> np.ndarray:
    if t == "log1p":
        return np.log1p(x)
    if t == "sqrt":
        return np.sqrt(x)
    return x


def _inverse_np(y: np.ndarray, t: str) -> np.ndarray:
    if t == "log1p":
        return np.expm1(y)
    if t == "sqrt":
        y = np.where(y < 0, 0.0, y)
        return y * y
    return y


def _forward_xr(x: xr.DataArray, t: str) -> xr.DataArray:
    return x if t == "none" else x.copy(data=_forward_np(np.asarray(x.values, dtype=np.float64), t))


def _inverse_xr(y: xr.DataArray, t: str) -> xr.DataArray:
    return y if t == "none" else y.copy(data=_inverse_np(np.asarray(y.values, dtype=np.float64), t))


def _forward_torch(x: Any, t: str) -> Any:
    import torch

    if t == "log1p":
        return torch.log1p(x)
    if t == "sqrt":
        return torch.sqrt(x)
    return x


def _inverse_torch(y: Any, t: str) -> Any:
    import torch

    if t == "log1p":
        return torch.expm1(y)
    if t == "sqrt":
        y = torch.clamp(y, min=0.0)
        return y * y
    return y


def _to_list(a: np.ndarray) -> Any:
    """Scalars become Python numbers, arrays nested lists (exact in JSON)."""
    if np.ndim(a) == 0:
        v = np.asarray(a).item()
        return int(v) if isinstance(v, (int, np.integer)) else float(v)
    return np.asarray(a).tolist()


def _from_list(v: Any) -> float | np.ndarray:
    return float(v) if isinstance(v, (int, float)) else np.asarray(v, dtype=np.float64)


def _copy_nested(v: Any) -> Any:
    if isinstance(v, list):
        return [_copy_nested(e) for e in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    return float(v)


def _coord_list(coord: xr.DataArray) -> list[Any]:
    values = coord.values
    if np.issubdtype(values.dtype, np.datetime64):
        return [str(v) for v in values.astype("datetime64[ns]")]
    return values.tolist()
