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
    "camels_us_raw": "dplrepro data download camels-us (official NCAR files, Zenodo record 15529996; see data/README.md)",
    "camels_gb.nc": "no automated download: CAMELS-GB (Coxon et al. 2020, UKCEH EIDC, doi:10.5285/8344e4f3-d2ea-44f5-8afa-86d2987543a9) and Caravan; see data/README.md",
    "caravan_attributes": "no automated download: Caravan attributes (Kratzert et al. 2023, Zenodo doi:10.5281/zenodo.6522634); see data/README.md",
    "smap_conus.nc": "no automated download: SMAP L3 (NASA NSIDC SPL3SMP) + NLDAS-2 (NASA GES DISC) as prepared by Fang et al. (2017); see data/README.md",
    "natural_earth": "no automated download: Natural Earth GeoJSON layers (naturalearthdata.com, public domain); see data/README.md",
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
