"""Where data live: the single ``DPLREPRO_DATA`` setting.

The data folder is ``$DPLREPRO_DATA`` when that environment variable is set, else the
project's own ``data/`` folder. Nothing else in the package hard-codes a data path.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataNotFoundError

ENV_VAR = "DPLREPRO_DATA"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"

#: How a user obtains each top-level dataset (shown in "file not found" errors).
OBTAIN = {
    "camels_us.nc": "dplrepro data download camels-us && dplrepro data prepare camels-us",
    "camels_us_raw": "dplrepro data download camels-us",
    "camels_gb.nc": "download CAMELS-GB (Coxon et al. 2020, UKCEH EIDC) and Caravan; see data/README.md",
    "caravan_attributes": "download Caravan (Kratzert et al. 2023, Zenodo) attributes; see data/README.md",
    "smap_conus.nc": "download SMAP L3 + NLDAS-2 as prepared by Fang et al. (2017); see data/README.md",
    "natural_earth": "download Natural Earth GeoJSON boundaries; see data/README.md",
}


def data_dir() -> Path:
    """Return the data folder: ``$DPLREPRO_DATA`` if set, else the project's ``data/``."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser().resolve() if value else DEFAULT_DATA_DIR


def require(relative: str | os.PathLike, *, obtain: str | None = None) -> Path:
    """Return ``data_dir()/relative`` or raise :class:`DataNotFoundError`.

    The error names the missing file, the folder searched (and how that folder was
    chosen) and the command that obtains the data.
    """
    root = data_dir()
    path = root / relative
    if path.exists():
        return path
    top = Path(relative).parts[0]
    how = obtain or OBTAIN.get(top, "see data/README.md")
    origin = f"${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "the project's data/ (set $DPLREPRO_DATA to change)"
    if not root.exists():
        raise DataNotFoundError(
            f"data folder {root} does not exist (chosen from {origin}); "
            f"cannot read {relative}. To obtain it: {how}"
        )
    raise DataNotFoundError(
        f"{relative} not found in data folder {root} (chosen from {origin}). To obtain it: {how}"
    )
