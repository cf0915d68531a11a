"""Conventions shared by the package: where data lives, how images and tables look."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import numpy.typing as npt

#: Images: a uint8 array (N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3), or a set's name
#: (``"fashion-mnist:test"``, ``"folder:PATH"``, ``"npy:PATH"``).
Images = Union[npt.NDArray[np.uint8], str]

#: A path.
PathLike = Union[str, "os.PathLike[str]"]


def data_dir(path: Optional[PathLike] = None) -> Path:
    """The data folder: ``path``, else ``$GENOOD_DATA``, else ``./data`` (as the command line)."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("GENOOD_DATA", "data"))


def threads(count: Optional[int]) -> int:
    """Worker threads: ``count``, else every core."""
    from . import _genood

    if count is None:
        return _genood.threads()
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count}")
    return count


def channels_last(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """N×C×H×W images as numpy users hold them: N×H×W for grey, N×H×W×C for colour."""
    if images.shape[1] == 1:
        return images[:, 0]
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def name_of(images: Any, default: str) -> str:
    """A set's name for messages: its own name, or ``default`` for an array."""
    return images if isinstance(images, str) else default


def table(columns: Dict[str, Any]) -> Any:
    """Columns as a pandas DataFrame when pandas is installed, else as the dict itself."""
    try:
        pandas = importlib.import_module("pandas")
    except ImportError:
        return columns
    return pandas.DataFrame(columns)
