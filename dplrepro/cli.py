"""The ``dplrepro`` command.

    dplrepro data check                      which datasets are present, where, what is missing
    dplrepro data download camels-us         official archives, SHA-256 checked
    dplrepro data prepare camels-us          raw archive layout -> camels_us.nc
    dplrepro run CHAPTER [--profile quick|full] [-p key=value ...]
    dplrepro book [--profile quick|full] [--only CHAPTER ...] [--jobs N]
    dplrepro chapters                        list the chapters in book order
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from .book import ChapterError, build_book, chapters, run_chapter
from .chapters import ParameterError
from .data.catalog import check_datasets
from .data.download import download_camels_us
from .data.errors import DataError
from .data.paths import data_dir
from .data.prepare import prepare_camels_us
from .results import PROFILES


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as YAML (numbers, booleans, strings), except that
    digits with a leading zero stay strings (basin ids such as ``01047000``, not octal numbers)."""
    params: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"-p expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        if value == "" or (len(value) > 1 and value.startswith("0") and value.isdigit()):
            params[key.strip()] = value
        else:
            params[key.strip()] = yaml.safe_load(value)
    return params


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number of chapters, got {text!r}")
    return value


def _cmd_data_check(args: argparse.Namespace) -> int:
    """Exit 1 when a dataset that is present is invalid (missing ones only fall back to the twin)."""
    rows = check_datasets()
    print(f"data folder: {data_dir()}")
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        mark = "MISSING" if not row["present"] else ("ok" if row["ok"] else "INVALID")
        print(f"  {row['name']:<{width}}  {mark:<7}  {row['path']}")
        if row.get("detail"):
            print(f"  {'':<{width}}           {row['detail']}")
    missing = [r for r in rows if not r["present"]]
    invalid = [r for r in rows if r["present"] and not r["ok"]]
    print(f"{len(rows) - len(missing) - len(invalid)} of {len(rows)} datasets ok, {len(missing)} missing, "
          f"{len(invalid)} invalid" + (f" ({', '.join(r['name'] for r in invalid)})" if invalid else ""))
    if missing:
        print("chapters fall back to the synthetic twin where a dataset is missing.")
    return 1 if invalid else 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    if args.dataset != "camels-us":
        raise SystemExit(f"no automated download for {args.dataset!r}; see data/README.md")
    hashes = dict(_parse_params(args.sha256)) if args.sha256 else None
    paths = download_camels_us(Path(args.dest) if args.dest else None, archives=args.archives or None, sha256=hashes)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    if args.dataset != "camels-us":
        raise SystemExit(f"no prepare step for {args.dataset!r}; see data/README.md")
    raw = Path(args.raw) if args.raw else data_dir() / "camels_us_raw"
    out = prepare_camels_us(raw, Path(args.out) if args.out else None, args.basins or None, overwrite=args.overwrite)
    print(f"wrote {out}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    out = run_chapter(args.chapter, args.profile, _parse_params(args.param), force=args.force)
    print(f"executed notebook: {out}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    html = build_book(args.profile, chapters_to_run=args.only, parameters=_parse_params(args.param), force=args.force,
                      jobs=args.jobs)
    print(f"HTML book: {html / 'index.html'}")
    return 0


def _cmd_chapters(args: argparse.Namespace) -> int:
    for name in chapters():
        print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dplrepro", description="Reproduce Tsai et al. (2021): dPL vs calibration.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect, download and prepare datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser("check", help="which datasets are present, where, and what is missing")
    check.set_defaults(func=_cmd_data_check)
    download = data_sub.add_parser("download", help="download official archives (SHA-256 checked)")
    download.add_argument("dataset", choices=["camels-us"])
    download.add_argument("--dest", help="folder to unpack into (default: <data>/camels_us_raw)")
    download.add_argument("--archives", nargs="*", help="only these archives (e.g. timeseries attributes)")
    download.add_argument("--sha256", action="append", default=[], metavar="ARCHIVE=HASH",
                          help="SHA-256 you verified yourself, for an archive without a published one")
    download.set_defaults(func=_cmd_data_download)
    prepare = data_sub.add_parser("prepare", help="convert a raw archive into the analysis-ready NetCDF")
    prepare.add_argument("dataset", choices=["camels-us"])
    prepare.add_argument("--raw", help="raw archive folder (default: <data>/camels_us_raw)")
    prepare.add_argument("--out", help="output NetCDF (default: <data>/camels_us.nc)")
    prepare.add_argument("--basins", nargs="*", help="only these basin ids")
    prepare.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    prepare.set_defaults(func=_cmd_data_prepare)

    run = sub.add_parser("run", help="papermill-execute one chapter into the build folder")
    run.add_argument("chapter")
    run.add_argument("--profile", choices=PROFILES, default="quick")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter of the chapter's parameters cell (repeatable)")
    run.add_argument("--force", action="store_true",
                     help="rerun even if an identical run is cached, recomputing its checkpoints, calibrations and surrogates")
    run.set_defaults(func=_cmd_run)

    book = sub.add_parser("book", help="run every chapter, then build the HTML book")
    book.add_argument("--profile", choices=PROFILES, default="quick")
    book.add_argument("--only", nargs="*", help="run only these chapters (the others must have run before)")
    book.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                      help="parameter passed to every chapter (repeatable)")
    book.add_argument("--force", action="store_true",
                      help="rerun every chapter, recomputing cached runs, checkpoints, calibrations and surrogates")
    book.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                      help="chapters run at once, each after the chapters it reads, with cores/N torch threads "
                           "(default: 2 on a machine with 2+ cores; 1: one after the other with a progress bar per cell)")
    book.set_defaults(func=_cmd_book)

    lst = sub.add_parser("chapters", help="list chapters in book order")
    lst.set_defaults(func=_cmd_chapters)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ParameterError as exc:
        print(f"dplrepro: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, ChapterError) as exc:
        print(f"dplrepro: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
