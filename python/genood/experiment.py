"""Data sets, metrics on plain arrays, the table of every OOD score, and the paper's
experiment in one call."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _common, _genood
from ._common import Images, PathLike, channels_last, table
from ._progress import ProgressArg, callback
from ._scorers import Model, scored_set


def fetch(
    names: Sequence[str] = ("fashion-mnist", "mnist"),
    *,
    data_dir: Optional[PathLike] = None,
    mirror: Optional[PathLike] = None,
    progress: ProgressArg = True,
) -> Path:
    """Fetches data sets (their published checksums checked) into the data folder.

    Parameters
    ----------
    names
        ``fashion-mnist``, ``mnist``, ``cifar10``, ``svhn``, ``celeba``, ``imagenet32``.
    data_dir
        The data folder (default: ``$GENOOD_DATA`` or ``./data``).
    mirror
        A folder holding the archives, tried before the network.
    progress
        Log lines of each step, or a callable taking the library's events.

    Returns
    -------
    Path
        The data folder.
    """
    folder = _common.data_dir(data_dir)
    _genood.fetch(list(names), folder, None if mirror is None else Path(mirror), callback(progress))
    return folder


def load(
    name: str, *, data_dir: Optional[PathLike] = None, seed: int = 0
) -> Tuple[npt.NDArray[np.uint8], Optional[npt.NDArray[np.uint32]]]:
    """A set's images and labels by name.

    Parameters
    ----------
    name
        ``"fashion-mnist:train"``, ``"mnist:test"``, ``"folder:PATH"``, ``"npy:PATH"``, or a
        synthetic set such as ``"inverted/mnist:test"``.
    data_dir
        Where named sets are read from (default: ``$GENOOD_DATA`` or ``./data``).
    seed
        Seed of a synthetic set.

    Returns
    -------
    images : uint8 array
        N×H×W for grey sets, N×H×W×C for colour ones.
    labels : uint32 array or None
        One label per image, where the set has them.
    """
    images, labels = _genood.load(name, _common.data_dir(data_dir), seed)
    return channels_last(images), labels


def metrics(
    in_scores: npt.ArrayLike,
    ood_scores: npt.ArrayLike,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> Dict[str, Dict[str, float]]:
    """Detection metrics of any score where *higher means more OOD* (OOD is the positive
    class), with 95% percentile-bootstrap intervals.

    Parameters
    ----------
    in_scores, ood_scores
        One score per in-distribution and per OOD input.
    resamples
        Bootstrap resamples of each class.
    seed
        Seed of the resamples.

    Returns
    -------
    dict
        ``auroc``, ``aupr_out``, ``aupr_in``, ``fpr95`` and ``detection_accuracy``, each a
        dict of ``value``, ``low`` and ``high``.

    Examples
    --------
    >>> genood.metrics([0.1, 0.2], [0.3, 0.4], resamples=10)["auroc"]["value"]
    1.0
    """
    a = np.asarray(in_scores, dtype=np.float64).reshape(-1)
    b = np.asarray(ood_scores, dtype=np.float64).reshape(-1)
    result: Dict[str, Dict[str, float]] = json.loads(_genood.metrics(a.tolist(), b.tolist(), resamples, seed))
    return result


class ScoreTable:
    """Every OOD score on an in-distribution set against OOD sets, as ``genood score``
    computes it: a DataFrame (or dict of arrays) in :attr:`frame`, each score's per-image
    values, and a self-contained HTML page (ROC curves and the metrics table) that a
    notebook shows inline and :meth:`save` writes."""

    def __init__(self, rows_json: str, scores: List[Tuple[Any, Any]], page: str) -> None:
        self.rows: List[Dict[str, Any]] = json.loads(rows_json)
        self._scores = scores
        self.page = page

    @property
    def frame(self) -> Any:
        """One row per (score, OOD set): AUROC, AUPR and FPR at 95% TPR with their intervals."""
        columns: Dict[str, List[Any]] = {
            k: [] for k in ("score", "kind", "in_dist", "ood", "batch", "cost")
        }
        for metric in ("auroc", "aupr_out", "aupr_in", "fpr95", "detection_accuracy"):
            for part in ("", "_low", "_high"):
                columns[metric + part] = []
        for row in self.rows:
            for key in ("score", "kind", "in_dist", "ood", "batch", "cost"):
                columns[key].append(row[key])
            for metric, estimate in row["metrics"].items():
                columns[metric].append(estimate["value"])
                columns[metric + "_low"].append(estimate["low"])
                columns[metric + "_high"].append(estimate["high"])
        return table(columns)

    def auroc(self, score: str, ood: Optional[str] = None) -> float:
        """The AUROC of the row whose label is ``score`` (``"likelihood (bpd)"``,
        ``"typicality, batches of 10"``) or, failing that, of the first row of that kind
        (``"complexity"``), against ``ood`` (default: the first OOD set)."""
        return float(self._row(score, ood)["metrics"]["auroc"]["value"])

    def values(self, score: str, ood: Optional[str] = None) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The per-input values of a row (higher: more OOD): ``(in-distribution, OOD)``."""
        row = self._row(score, ood)
        in_scores, ood_scores = self._scores[self.rows.index(row)]
        return np.asarray(in_scores), np.asarray(ood_scores)

    def _row(self, score: str, ood: Optional[str]) -> Dict[str, Any]:
        rows = [r for r in self.rows if ood is None or r["ood"] in (ood, f"memory:{ood}")]
        for key in ("score", "kind"):
            for row in rows:
                if row[key] == score:
                    return row
        known = sorted({r["score"] for r in self.rows} | {r["kind"] for r in self.rows})
        raise KeyError(f"no row `{score}`{'' if ood is None else f' against {ood}'}; rows: {', '.join(known)}")

    def save(self, path: PathLike) -> Path:
        """Writes the self-contained HTML page to ``path``."""
        out = Path(path)
        out.write_text(self.page, encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        return _inline(self.page)

    def __repr__(self) -> str:
        lines = [
            f"{r['score']:<40} {r['ood'].removeprefix('memory:'):<24} AUROC {r['metrics']['auroc']['value']:.3f}"
            for r in self.rows
        ]
        return "ScoreTable(\n  " + "\n  ".join(lines) + "\n)"


def _inline(page: str, height: int = 640) -> str:
    """A page shown inside a notebook cell, its styles kept to itself."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd"></iframe>'
    )


def score(
    model: Model,
    in_dist: Images,
    ood: Union[Images, Mapping[str, Images]],
    *,
    reference: Optional[Images] = None,
    reference_scores: Optional[Dict[str, Any]] = None,
    background: Optional[Model] = None,
    ensemble: Sequence[Model] = (),
    resamples: int = 1000,
    seed: int = 0,
    data_dir: Optional[PathLike] = None,
) -> ScoreTable:
    """Every OOD score of ``genood score`` for ``model`` on ``in_dist`` against ``ood``.

    Parameters
    ----------
    model : Run, path or callable
        A genood run, or any log-likelihood callable (one log p per image in nats, or a
        dict of ``log_p`` and statistics).
    in_dist : uint8 array or str
        In-distribution test images, or a set's name.
    ood : uint8 array, str, or dict of name to either
        The OOD sets.
    reference : uint8 array or str
        In-distribution images for the entropy estimate and DoSE's density (the training
        data, or part of it).
    reference_scores : dict, optional
        The reference's ``log_p`` and ``parts`` when already computed (instead of
        ``reference``).
    background : Run, path or callable, optional
        A background model: adds the likelihood ratio.
    ensemble : sequence of Run, path or callable
        Other ensemble members: adds WAIC.
    resamples, seed
        The bootstrap of the intervals (the seed also draws the typicality batches).

    Returns
    -------
    ScoreTable
    """
    from ._scorers import scorer

    members = tuple(ensemble)
    oods = ood if isinstance(ood, Mapping) else {_common.name_of(ood, "ood"): ood}
    inside = scored_set(_common.name_of(in_dist, "in"), in_dist, model, background, members, data_dir)
    outside = [scored_set(name, x, model, background, members, data_dir) for name, x in oods.items()]
    if reference_scores is None:
        if reference is None:
            raise ValueError("score needs reference images (in-distribution, e.g. the training data)")
        from ._scorers import images

        log_p, parts = scorer(model)(images(reference, data_dir), data_dir)
        reference_scores = {"log_p": log_p, "parts": parts}
    rows, scores, page = _genood.score_arrays(
        reference_scores["log_p"], reference_scores["parts"], inside, outside, resamples, seed
    )
    return ScoreTable(rows, scores, page)


def score_run(
    run: PathLike,
    in_dist: str,
    ood: Sequence[str],
    reference: str,
    *,
    background: Optional[PathLike] = None,
    ensemble: Sequence[PathLike] = (),
    resamples: int = 1000,
    seed: int = 0,
    data_dir: Optional[PathLike] = None,
) -> ScoreTable:
    """``genood score`` itself: every score from the per-image scores that ``genood eval``
    wrote into the run folder ``run`` (and its background and ensemble runs)."""
    rows, scores, page = _genood.score_run(
        Path(run),
        in_dist,
        list(ood),
        reference,
        None if background is None else Path(background),
        [Path(p) for p in ensemble],
        resamples,
        seed,
        _common.data_dir(data_dir),
    )
    return ScoreTable(rows, scores, page)


class Report:
    """What :func:`reproduce` wrote: the results, the summary, and the report page, which a
    notebook shows inline and :meth:`save` copies."""

    def __init__(self, written: Dict[str, Any]) -> None:
        self.folder = Path(written["folder"])
        self.summary: str = written["summary_text"]
        self.seconds: float = written["seconds"]
        self.results: Dict[str, Any] = json.loads(Path(written["results"]).read_text())
        self.report_path = Path(self.results["report"])

    def save(self, path: PathLike) -> Path:
        """Copies the self-contained report page to ``path``."""
        out = Path(path)
        shutil.copyfile(self.report_path, out)
        return out

    def _repr_html_(self) -> str:
        return _inline(self.report_path.read_text(encoding="utf-8"), height=900)

    def __repr__(self) -> str:
        return f"Report({str(self.folder)!r})\n{self.summary}"


def reproduce(
    out: PathLike = "runs/reproduce",
    *,
    pair: str = "fashion-mnist-mnist",
    preset: str = "quick",
    models: Sequence[str] = ("glow", "cv-glow"),
    steps: Optional[int] = None,
    eval_limit: Optional[int] = None,
    train_eval_limit: int = 10_000,
    threads: Optional[int] = None,
    data_dir: Optional[PathLike] = None,
    mirror: Optional[PathLike] = None,
    progress: ProgressArg = True,
) -> Report:
    """Reproduces one of the paper's experiments, as ``genood reproduce`` does: trains each
    model (and the first one's background model and ensemble), scores the sets, analyses and
    reports. A reproduction that was interrupted resumes where it stopped.

    Parameters
    ----------
    out
        The output folder.
    pair
        The experiment: ``fashion-mnist-mnist``, ``cifar10-svhn``, ...
    preset
        ``tiny``, ``quick`` (CPU minutes) or ``paper`` (GPU hours).
    models
        The model families, in order.
    steps, eval_limit, train_eval_limit
        Overrides of the preset's steps and of how many images are scored.
    threads
        Worker threads (default: every core).
    data_dir, mirror
        The data folder, and a folder of archives tried before the network.
    progress
        Log lines and bars, or a callable taking the library's events.

    Returns
    -------
    Report
    """
    written = _genood.reproduce(
        Path(out),
        pair,
        preset,
        list(models),
        steps,
        eval_limit,
        train_eval_limit,
        _common.threads(threads),
        _common.data_dir(data_dir),
        None if mirror is None else Path(mirror),
        callback(progress),
    )
    return Report(written)
