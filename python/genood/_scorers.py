"""Where per-image log-likelihoods come from: a genood run, or any callable."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._common import Images, PathLike
from .run import Run

#: A model's log-likelihood: a callable taking images (as they were given, N×H×W or
#: N×H×W×C) and returning one log p per image in nats, or a dict of ``log_p`` and the
#: model's other per-image statistics (DoSE's features).
LogLikelihood = Callable[[Any], Union[npt.ArrayLike, Mapping[str, npt.ArrayLike]]]

#: What scores images: a run (or its folder) or a log-likelihood callable.
Model = Union[Run, PathLike, LogLikelihood]

#: Per-image log p and named statistics.
Scored = Tuple[npt.NDArray[np.float64], Dict[str, npt.NDArray[np.float64]]]


def images(x: Images, data_dir: Optional[PathLike]) -> npt.NDArray[np.uint8]:
    """The images of ``x``: the array itself, or a named set read as N×H×W(×C)."""
    if isinstance(x, str):
        from .experiment import load

        return load(x, data_dir=data_dir)[0]
    return np.asarray(x)


def scorer(model: Model) -> Callable[[Images, Optional[PathLike]], Scored]:
    """A function giving each image's log p and statistics under ``model``."""
    if isinstance(model, Run):
        run = model
    elif isinstance(model, str) or hasattr(model, "__fspath__"):
        run = Run.open(model)
    elif callable(model):
        return _of_callable(model)
    else:
        raise TypeError(f"a model is a genood Run, a run folder or a callable, not {type(model).__name__}")

    def of_run(x: Images, data_dir: Optional[PathLike]) -> Scored:
        scores = run._scores(x, data_dir=data_dir)
        return scores["log_p"], dict(scores["parts"])

    return of_run


def _of_callable(fn: LogLikelihood) -> Callable[[Images, Optional[PathLike]], Scored]:
    def of_callable(x: Images, data_dir: Optional[PathLike]) -> Scored:
        array = images(x, data_dir)
        result = fn(array)
        stats: Dict[str, npt.NDArray[np.float64]] = {}
        if isinstance(result, Mapping):
            if "log_p" not in result:
                raise ValueError("a log-likelihood callable returning a dict must give `log_p`")
            for name, values in result.items():
                if name != "log_p":
                    stats[name] = _per_image(values, len(array), f"statistic `{name}`")
            log_p = _per_image(result["log_p"], len(array), "log-likelihood")
        else:
            log_p = _per_image(result, len(array), "log-likelihood")
        return log_p, stats

    return of_callable


def _per_image(values: npt.ArrayLike, n: int, what: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.shape != (n,):
        raise ValueError(f"the {what} must give one value per image: {n} images, {array.size} values")
    return array


def log_likelihoods(
    model: Model, x: Images, data_dir: Optional[PathLike]
) -> npt.NDArray[np.float64]:
    """Only the log p of each image of ``x`` under ``model``."""
    return scorer(model)(x, data_dir)[0]


def scored_set(
    name: str,
    x: Images,
    model: Model,
    background: Optional[Model],
    ensemble: Tuple[Model, ...],
    data_dir: Optional[PathLike],
) -> Dict[str, Any]:
    """A set as the score table takes it: images, log p, statistics and the companions'."""
    array = images(x, data_dir)
    log_p, stats = scorer(model)(array, data_dir)
    return {
        "name": name,
        "images": array,
        "log_p": log_p,
        "parts": stats,
        "background": None if background is None else log_likelihoods(background, array, data_dir),
        "ensemble": [log_likelihoods(member, array, data_dir) for member in ensemble],
    }
