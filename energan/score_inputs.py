"""What ``energan score`` reads: a folder of images, an ``.npz`` or ``.pt`` tensor, or a dataset's
split, in chunks with their ids, brought to a run's [C, H, W].

Pixels stay as they come (uint8 0..255 or floats in [-1, 1]) until
:func:`energan.metrics.energies.image_energies` scales them; a folder is decoded one chunk at a
time, so a large one is never held whole.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from energan.assemble import check_splits
from energan.config import Resolved
from energan.data import LazyImages
from energan.data.decode import decode_image
from energan.data.fit import convert_channels
from energan.data.folder import EXTENSIONS
from energan.data.prepare import SHOWN_UNREADABLE, Listing, list_folder
from energan.errors import DataError
from energan.kinds import DATASET
from energan.plugins import Plugins
from energan.run import Run

DATASET_PREFIX = "dataset:"
SPLITS = ("test", "train")
FORMS = "a folder of images, FILE.npz[:KEY], FILE.pt or dataset:NAME[:train|test]"


class ScoreImages(Protocol):
    """Images to score at a run's [C, H, W], uint8 or floats in [-1, 1], with their ids."""

    name: str  # names the default output file

    def __len__(self) -> int: ...

    def chunks(self, size: int) -> Iterator[tuple[list[str], Tensor]]:
        """The images in order, each chunk the next ``size`` listed (a folder's unreadable files left out)."""
        ...

    def pick(self, ids: Sequence[str]) -> Tensor:
        """The images of ``ids``, as :meth:`chunks` named them, in that order."""
        ...


@dataclasses.dataclass(frozen=True)
class TensorImages:
    """Images in memory (a file's array, a dataset's split) whose ids are their indices."""

    name: str
    images: Tensor | LazyImages  # [N, C, H, W] with the run's H × W and C convertible to ``channels``
    channels: int

    def __len__(self) -> int:
        return len(self.images)

    def chunks(self, size: int) -> Iterator[tuple[list[str], Tensor]]:
        for start in range(0, len(self), size):
            index = torch.arange(start, min(start + size, len(self)))
            yield [str(i) for i in index.tolist()], self._at(index)

    def pick(self, ids: Sequence[str]) -> Tensor:
        return self._at(torch.tensor([int(i) for i in ids], dtype=torch.long))

    def _at(self, index: Tensor) -> Tensor:
        batch = self.images[index]
        return convert_channels(batch if batch.dtype == torch.uint8 else batch.float(), self.channels)


@dataclasses.dataclass(frozen=True)
class FolderImages:
    """The image files under a folder in sorted order, decoded a chunk at a time at the run's size
    (:func:`energan.data.decode.decode_image`: centre crop, resize) and channels; ids are the paths
    relative to the folder. Unreadable files are skipped and named in one warning at the end."""

    name: str
    listing: Listing
    size: int
    channels: int

    def __len__(self) -> int:
        return len(self.listing.paths)

    def chunks(self, size: int) -> Iterator[tuple[list[str], Tensor]]:
        unreadable: list[str] = []
        for start in range(0, len(self), size):
            ids, pixels = [], []
            for path in self.listing.paths[start : start + size]:
                name = str(path.relative_to(self.listing.root))
                try:
                    pixels.append(decode_image(os.fspath(path), self.size))
                    ids.append(name)
                except DataError as error:
                    unreadable.append(f"{name} ({str(error).rpartition(f'{path}: ')[2]})")
            decoded = np.stack(pixels) if pixels else np.zeros((0, 3, self.size, self.size), dtype=np.uint8)
            yield ids, convert_channels(torch.from_numpy(decoded), self.channels)
        shown = ", ".join(unreadable[:SHOWN_UNREADABLE]) + (", ..." if len(unreadable) > SHOWN_UNREADABLE else "")
        if len(unreadable) == len(self):
            raise DataError(f"folder: none of the {len(self)} image files under {self.listing.root} could be read; first: {shown}")
        if unreadable:
            warnings.warn(f"skipped {len(unreadable)} unreadable files of {self.listing.root}: {shown}", stacklevel=2)

    def pick(self, ids: Sequence[str]) -> Tensor:
        decoded = [decode_image(os.fspath(self.listing.root / name), self.size) for name in ids]
        return convert_channels(torch.from_numpy(np.stack(decoded)), self.channels)


def read_input(text: str, run: Run, plugins: Plugins) -> ScoreImages:
    """INPUT of ``energan score`` as images for ``run``: ``dataset:NAME[:SPLIT]``, a folder,
    ``FILE.npz[:KEY]`` or ``FILE.pt``; anything else is a one-line error naming the valid forms."""
    shape = run.data.shape
    if text.startswith(DATASET_PREFIX):
        return _dataset(text, run, plugins)
    path, key = Path(text).expanduser(), None
    head, _, tail = text.rpartition(":")
    if not path.exists() and head.lower().endswith(".npz"):
        path, key = Path(head).expanduser(), tail
    if path.is_dir():
        listing = list_folder(path)
        if not listing.paths:
            raise DataError(f"folder: found no images ({', '.join(EXTENSIONS)}) under {path}")
        check_fits((3, shape[1], shape[1]), shape, text)
        return FolderImages(path.resolve().name, listing, shape[1], shape[0])
    if not path.is_file():
        raise DataError(f"INPUT {text}: no such file or folder; valid: {FORMS}")
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".pt"):
        raise DataError(f"INPUT {text}: unknown file type {suffix or '(none)'!r}; valid: {FORMS}")
    images = _npz(path, key) if suffix == ".npz" else _pt(path)
    return TensorImages(path.stem + (f"-{key}" if key else ""), _checked(images, shape, text), shape[0])


def _dataset(text: str, run: Run, plugins: Plugins) -> TensorImages:
    """A split of a registered dataset: the run's own as it was trained (its parameters and data
    directory), any other with its default parameters."""
    name, _, split = text.removeprefix(DATASET_PREFIX).partition(":")
    split = split or SPLITS[0]
    if split not in SPLITS:
        raise DataError(f"INPUT {text}: unknown split {split!r}; valid: {', '.join(SPLITS)}")
    component = plugins.registries[DATASET].get(name)
    if name == run.config.data.name:
        data = run.data.load()
    else:
        data = check_splits(Resolved.of(component, {}).build(plugins.registries, DATASET, data_dir=None))
    images = data.test_images if split == "test" else data.train_images
    if images is None:
        raise DataError(f"INPUT {text}: dataset {name!r} has no test split; valid: dataset:{name}:train")
    check_fits(tuple(images.shape[1:]), run.data.shape, text)
    return TensorImages(f"{name}-{split}", images, run.data.shape[0])


def _npz(path: Path, key: str | None) -> np.ndarray:
    """The one array of an ``.npz``, or the one named ``key``."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.files)
            if key is None and len(names) != 1:
                raise DataError(f"{path}: holds {len(names)} arrays ({', '.join(names) or 'none'}); name one as {path}:KEY")
            if key is not None and key not in names:
                raise DataError(f"{path}: no array {key!r}; valid: {', '.join(names)}")
            return arrays[key or names[0]]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz file ({str(error).strip().splitlines()[0][:200]})") from None


def _pt(path: Path) -> Tensor:
    """The tensor saved in a ``.pt`` file (loaded with ``weights_only``)."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many kinds (pickle, zip, EOF, unsupported global) for a file that is not one
        raise DataError(f"{path}: not a readable .pt file (truncated, garbled or holding code)") from None
    if not isinstance(loaded, Tensor):
        raise DataError(f"{path}: holds a {type(loaded).__name__}, not a tensor; valid: a tensor [N, C, H, W] or [N, H, W]")
    return loaded


def _checked(images: np.ndarray | Tensor, shape: tuple[int, int, int], source: str) -> Tensor:
    """``images`` as a tensor [N, C, H, W] of uint8 or floats in [-1, 1] that fits ``shape``."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise DataError(f"{source}: pixels of dtype {str(images.dtype).removeprefix('torch.')}; valid: uint8 (0..255) or floats in [-1, 1]")
    if images.ndim == 3:
        images = rearrange(images, "n h w -> n 1 h w")
    if images.ndim != 4:
        raise DataError(f"{source}: an array of shape {tuple(images.shape)}; valid: images [N, C, H, W] or [N, H, W]")
    if not len(images):
        raise DataError(f"{source}: holds no images")
    check_fits(tuple(images.shape[1:]), shape, source)
    if images.is_floating_point():
        outside = ~((images >= -1) & (images <= 1))  # NaN too
        if outside.any():
            raise DataError(
                f"{source}: {int(outside.sum())} float pixels lie outside [-1, 1] (the first is {images[outside][0].item():g}); "
                "floats must be in [-1, 1]: divide 0..255 values by 127.5 and subtract 1, or save them as uint8"
            )
    return images


def check_fits(got: tuple[int, ...], want: tuple[int, int, int], source: str) -> None:
    """Images of [C, H, W] ``got`` can be scored by a run of ``want``: the same H × W, and the same
    channels or 1 ↔ 3; else a one-line error naming both shapes."""
    mismatch = f"{source}: images of [C, H, W] {got} do not fit the run's {want}"
    if got[1:] != want[1:]:
        last = "; channels last? rearrange them to [N, C, H, W]" if got[:2] == want[1:] and got[2] in (1, 3) else ""
        raise DataError(f"{mismatch}: their H × W differ (resize them to {want[1]} × {want[2]}){last}")
    if got[0] != want[0] and {got[0], want[0]} != {1, 3}:
        raise DataError(f"{mismatch}: only 1 ↔ 3 channels convert")
