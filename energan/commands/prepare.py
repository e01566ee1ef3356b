"""``energan prepare``: decode an image folder once into the store training reads (e.g. on a login
node, before a batch job); training prepares it the same way on first use."""

from __future__ import annotations

import argparse
from pathlib import Path

from energan.default_plugins.folder import SIZES


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "prepare",
        help="prepare an image folder for training (decode, crop and resize once, on every core)",
        description="Decode every image under DIR once, at the training size, into the store that `energan train --data folder` reads.",
    )
    parser.add_argument("data_dir", type=Path, metavar="DIR", help="the image folder (searched at any depth)")
    parser.add_argument("--size", type=int, default=64, choices=SIZES, help="image side in pixels (default 64), as data.size")
    parser.add_argument(
        "--cache", type=Path, help="where prepared folders are kept, as data.cache (default: $ENERGAN_CACHE_DIR or ~/.cache/energan)"
    )
    parser.add_argument("--workers", type=int, help="decoding processes (default: every core this process may use)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from energan.cache import cache_dir
    from energan.data.folder import EXTENSIONS, available_cores, folder_root
    from energan.data.prepare import list_folder, prepared_folder
    from energan.errors import ConfigError, DataError

    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers {args.workers}: valid: 0 (decode in this process) or more")
    listing = list_folder(folder_root(str(args.data_dir)))
    if not listing.paths:
        raise DataError(f"folder: found no images ({', '.join(EXTENSIONS)}) under {listing.root}")
    workers = available_cores() if args.workers is None else args.workers
    directory, manifest = prepared_folder(listing, args.size, args.cache or cache_dir(), workers)
    print(f"{manifest.readable} images of {listing.root} at {args.size} px in {directory} ({len(manifest.unreadable)} unreadable)")
    return 0
