"""Runs: a trained model in its folder (config, weights as safetensors, optimiser state,
metrics), and training one on a numpy array or a named set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import numpy.typing as npt

from . import _common, _genood
from ._common import Images, PathLike, channels_last, name_of, table
from ._progress import ProgressArg, callback


class Run:
    """A trained run, its model loaded once (on the CPU).

    Open one with :meth:`Run.open` or get one from :func:`genood.train`. Every method takes
    images as a uint8 array (N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3) or a set's name.

    Parameters
    ----------
    handle
        The library's run (use :meth:`Run.open`).

    Examples
    --------
    >>> run = genood.Run.open("runs/fashion-glow")          # doctest: +SKIP
    >>> run.bpd(x_test).mean()                               # doctest: +SKIP
    2.94
    """

    def __init__(self, handle: _genood.RunHandle) -> None:
        self._handle = handle

    @classmethod
    def open(cls, path: PathLike) -> "Run":
        """Opens the run in folder ``path``.

        Raises
        ------
        FileNotFoundError
            When the folder holds no run.
        """
        return cls(_genood.open_run(Path(path)))

    @property
    def path(self) -> Path:
        """The run folder."""
        return Path(self._handle.path)

    @property
    def config(self) -> Dict[str, Any]:
        """The run's configuration, as its ``config.json`` holds it."""
        config: Dict[str, Any] = json.loads(self._handle.config_json)
        return config

    @property
    def step(self) -> int:
        """The checkpoint's optimiser step."""
        return self._handle.step

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the images the model takes."""
        return self._handle.image_shape

    def evaluate(
        self,
        x: Images,
        *,
        batch_size: int = 500,
        iw_samples: int = 100,
        seed: int = 0,
        threads: Optional[int] = None,
        progress: ProgressArg = False,
        data_dir: Optional[PathLike] = None,
    ) -> Any:
        """Every per-image statistic ``genood eval`` writes.

        Parameters
        ----------
        x
            Images, or a set's name.
        batch_size
            Images per batch.
        iw_samples
            Importance samples of a VAE's bound (1: the ELBO), or draws per image of a
            diffusion model's; other models ignore it.
        seed
            Seed of the dequantisation noise (each image's noise is keyed by its position).
        threads
            Worker threads (default: every core); the scores do not depend on it.
        progress
            ``True`` for a progress bar, or a callable taking the library's events.
        data_dir
            Where named sets are read from (default: ``$GENOOD_DATA`` or ``./data``).

        Returns
        -------
        DataFrame or dict of arrays
            Columns ``log_p`` (nats), ``bpd``, then the model's own statistics (a flow's
            prior and log-determinant terms), one row per image.
        """
        scores = self._scores(x, batch_size, iw_samples, seed, threads, progress, data_dir)
        columns: Dict[str, Any] = {"log_p": scores["log_p"], "bpd": scores["bpd"]}
        columns.update(scores["parts"])
        return table(columns)

    def log_prob(self, x: Images, **options: Any) -> npt.NDArray[np.float64]:
        """log p(x) of each image in nats (the options of :meth:`evaluate`)."""
        log_p: npt.NDArray[np.float64] = self._scores(x, **_eval_options(options))["log_p"]
        return log_p

    def bpd(self, x: Images, **options: Any) -> npt.NDArray[np.float64]:
        """Bits per dimension of each image: -log p(x) / (D ln 2) (the options of
        :meth:`evaluate`)."""
        bpd: npt.NDArray[np.float64] = self._scores(x, **_eval_options(options))["bpd"]
        return bpd

    def sample(self, n: int, *, temperature: float = 0.7, seed: int = 0) -> npt.NDArray[np.uint8]:
        """``n`` images drawn from the model at ``temperature``: N×H×W (grey) or N×H×W×C."""
        return channels_last(self._handle.sample(n, temperature, seed))

    def _scores(
        self,
        x: Images,
        batch_size: int = 500,
        iw_samples: int = 100,
        seed: int = 0,
        threads: Optional[int] = None,
        progress: ProgressArg = False,
        data_dir: Optional[PathLike] = None,
    ) -> Dict[str, Any]:
        return self._handle.score(
            x,
            name_of(x, "images"),
            _common.data_dir(data_dir),
            batch_size,
            iw_samples,
            seed,
            _common.threads(threads),
            callback(progress),
        )

    def __repr__(self) -> str:
        family = self.config["model"].get("family", "model")
        return f"Run({str(self.path)!r}, {family}, step {self.step})"


def _eval_options(options: Dict[str, Any]) -> Dict[str, Any]:
    allowed = {"batch_size", "iw_samples", "seed", "threads", "progress", "data_dir"}
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(f"unexpected keyword arguments {sorted(unknown)}; choose from {sorted(allowed)}")
    return options


def train(
    run_dir: PathLike,
    data: Images,
    *,
    model: str = "glow",
    preset: str = "quick",
    resume: bool = False,
    overwrite: bool = False,
    threads: Optional[int] = None,
    progress: ProgressArg = True,
    data_dir: Optional[PathLike] = None,
    **overrides: Any,
) -> Run:
    """Trains a model on ``data`` into the folder ``run_dir`` and returns the run.

    Training writes checkpoints atomically; Ctrl-C (or a notebook's interrupt) stops it at
    the next checkpoint and raises ``KeyboardInterrupt``; ``resume=True`` continues it.

    Parameters
    ----------
    run_dir
        The run folder (created).
    data
        Training images as a uint8 array (kept as ``.npy`` under ``data_dir/arrays``, named by
        its hash, so the run can be resumed and scored from the command line), or a set's
        name such as ``"fashion-mnist:train"``.
    model
        ``glow``, ``cv-glow``, ``pixelcnn``, ``vae`` (the families of ``genood train``).
    preset
        ``tiny`` (seconds), ``quick`` (CPU minutes) or ``paper`` (the paper's sizes).
    resume
        Continue the run in ``run_dir`` from its last checkpoint.
    overwrite
        Replace the run in ``run_dir``.
    threads
        Worker threads (default: every core); training is bit-identical for a given count.
    progress
        ``True`` for a progress bar (tqdm when installed, else log lines), ``False`` for none,
        or a callable taking the library's events.
    data_dir
        Where named sets are read and arrays kept (default: ``$GENOOD_DATA`` or ``./data``).
    **overrides
        ``steps``, ``batch_size``, ``learning_rate``, ``seed``, ``background`` (a
        likelihood-ratio background model's noise rate), ``l2``.

    Returns
    -------
    Run
        The trained run.

    Examples
    --------
    >>> x, _ = genood.load("fashion-mnist:train")            # doctest: +SKIP
    >>> run = genood.train("runs/tiny", x, preset="tiny", steps=200)  # doctest: +SKIP
    """
    if resume and overwrite:
        raise ValueError("choose resume or overwrite, not both")
    start = "resume" if resume else "overwrite" if overwrite else "fresh"
    folder = Path(run_dir)
    _genood.train(
        folder,
        data,
        model,
        preset,
        start,
        _common.data_dir(data_dir),
        _common.threads(threads),
        callback(progress),
        **overrides,
    )
    return Run.open(folder)
