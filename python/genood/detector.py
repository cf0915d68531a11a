"""A detector of inputs a generative model's likelihood should not be trusted on, in
scikit-learn's and alibi-detect's conventions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from . import _common, _genood
from ._common import Images, PathLike, name_of, table
from ._progress import ProgressArg, callback
from ._scorers import LogLikelihood, Model, images, scorer
from .run import Run

#: The scores every model's detector can threshold (the default); none needs OOD examples
#: or a second model.
SCORES = ("likelihood", "typicality", "complexity", "dose")

#: The scores only some families have: a diffusion model's reconstruction, MSMA and DiffPath,
#: a hierarchical VAE's likelihood ratio ``llr`` (its ``llr>1``).
FAMILY_SCORES = ("reconstruction", "msma", "diffpath", "llr")


class Detector:
    """Flags inputs unlike a generative model's training data, image by image.

    Each score's threshold is fitted on in-distribution calibration images alone, at the
    false-positive rate ``fpr``; the verdict thresholds the *combined* score, the largest
    calibration percentile among the chosen scores but the likelihood (typicality, input
    complexity and DoSE by default). The likelihood is kept as the score the paper shows
    failing: it flags only inputs *less* likely than the training data, and a model trained
    on FashionMNIST finds MNIST *more* likely.

    Use a genood run (``Detector(run)``) or any model's log-likelihood
    (:meth:`Detector.from_log_likelihood`). As in scikit-learn, higher
    :meth:`score_samples` means more normal, :meth:`decision_function` is negative for
    outliers and :meth:`predict` returns +1 for inliers and -1 for outliers.

    Parameters
    ----------
    run : Run or path
        The trained run whose model scores the images. The reference (the typicality test's
        entropy estimate and DoSE's density) is a seeded subset of its training images.
    scores : sequence of str, default ("likelihood", "typicality", "complexity", "dose")
        The scores to threshold: any of :data:`SCORES`, and for a run of a family that has
        them any of :data:`FAMILY_SCORES`.
    fpr : float, default 0.05
        The in-distribution false-positive rate every threshold is set at.
    batch : int, default 10
        Inputs per decision of the batch typicality test.
    grouping : {"random", "label", "order"}, default "random"
        How the batch test groups images into batches (seeded random batches, or
        consecutive ones for a stream whose order is its source).
    codec : {"webp", "png"}, default "webp"
        The lossless compressor of the input-complexity score.
    reference_images : int, default 2000
        Training images of the run scored as the reference.
    iw_samples : int, default 100
        Importance samples of a latent-variable run's bound (a VAE's, a hierarchical VAE's),
        and draws of a diffusion run's diffusion term, per image. Each is a network pass: 10
        is much faster on a CPU, with a looser, noisier bound.
    seed : int, default 0
        Seed of the noise, the subsets and the bootstrap.
    threads : int, optional
        Worker threads (default: every core).
    progress : bool or callable, default False
        A progress bar while scoring, or a callable taking the library's events.
    data_dir : path, optional
        Where named sets are read from (default: ``$GENOOD_DATA`` or ``./data``).

    Attributes
    ----------
    thresholds_ : dict of str to float
        Each score's threshold (an input scoring above it is flagged; scores grow with OOD-ness).
    offset_ : float
        ``decision_function = score_samples - offset_``: minus the combined score's threshold.
    fpr_ : float
        The false-positive rate the thresholds were set at.
    calibration_images_ : int
        How many images the thresholds were fitted on.

    Examples
    --------
    >>> import genood
    >>> x_train, _ = genood.load("fashion-mnist:train")           # doctest: +SKIP
    >>> run = genood.train("runs/tiny", x_train, preset="tiny")     # doctest: +SKIP
    >>> held_out, _ = genood.load("fashion-mnist:test")            # doctest: +SKIP
    >>> detector = genood.Detector(run).fit(held_out[:2000])        # doctest: +SKIP
    >>> mnist, _ = genood.load("mnist:test")                        # doctest: +SKIP
    >>> (detector.predict(mnist) == -1).mean()                      # doctest: +SKIP
    0.97
    """

    def __init__(
        self,
        run: Union[Run, PathLike, None] = None,
        *,
        scores: Sequence[str] = SCORES,
        fpr: float = 0.05,
        batch: int = 10,
        grouping: str = "random",
        codec: str = "webp",
        reference_images: int = 2000,
        iw_samples: int = 100,
        seed: int = 0,
        threads: Optional[int] = None,
        progress: ProgressArg = False,
        data_dir: Optional[PathLike] = None,
    ) -> None:
        self.run = run
        self.scores = tuple(scores)
        self.fpr = fpr
        self.batch = batch
        self.grouping = grouping
        self.codec = codec
        self.reference_images = reference_images
        self.iw_samples = iw_samples
        self.seed = seed
        self.threads = threads
        self.progress = progress
        self.data_dir = data_dir
        self.log_likelihood: Optional[LogLikelihood] = None
        self.background: Optional[Model] = None
        self.ensemble: tuple[Model, ...] = ()
        self._handle: Optional[_genood.DetectorHandle] = None
        self._reference: Optional[Dict[str, Any]] = None

    @classmethod
    def from_log_likelihood(
        cls,
        log_likelihood: LogLikelihood,
        *,
        background: Optional[Model] = None,
        ensemble: Sequence[Model] = (),
        **options: Any,
    ) -> "Detector":
        """A detector for any model: ``log_likelihood(x)`` gives one log p per image in nats.

        It may be a PyTorch model's ``log_prob``, a scikit-learn density's
        ``score_samples``, or any callable; one returning a dict gives ``log_p`` and the
        model's other per-image statistics, which DoSE's density then takes too.

        Parameters
        ----------
        log_likelihood : callable
            Images (as given to the detector: N×H×W or N×H×W×C uint8) to log p per image.
        background : callable or Run, optional
            A background model's log-likelihood: adds the likelihood ratio to
            :meth:`compare`.
        ensemble : sequence of callables or runs, optional
            Other members of an ensemble: adds WAIC to :meth:`compare`.
        **options
            The options of :class:`Detector` (``scores``, ``fpr``, ``batch``, ...).

        Returns
        -------
        Detector
            Unfitted; call :meth:`fit` on in-distribution images.
        """
        detector = cls(None, **options)
        detector.log_likelihood = log_likelihood
        detector.background = background
        detector.ensemble = tuple(ensemble)
        return detector

    # Fitting ------------------------------------------------------------------------------

    def fit(self, X: Images, y: Any = None, *, reference: Optional[Images] = None) -> "Detector":
        """Fits every threshold on in-distribution images ``X``.

        Parameters
        ----------
        X : uint8 array or str
            In-distribution images the model did not train on (N×H×W, N×H×W×C or N×C×H×W),
            or a set's name.
        y : ignored
            Present for scikit-learn's API.
        reference : uint8 array or str, optional
            For a log-likelihood detector: in-distribution images for the entropy estimate
            and DoSE's density (default: a seeded half of ``X``, the other half
            calibrating). A run's reference is its own training images.

        Returns
        -------
        Detector
            ``self``, fitted.
        """
        del y
        if self.log_likelihood is None:
            if reference is not None:
                raise ValueError("a run's reference is its training images; `reference` is for log-likelihood detectors")
            self._handle = _genood.fit_run(
                self._run()._handle,
                X,
                _common.data_dir(self.data_dir),
                list(self.scores),
                self.fpr,
                self.batch,
                self.codec,
                self.reference_images,
                self.iw_samples,
                self.seed,
                _common.threads(self.threads),
                callback(self.progress),
            )
            return self._fitted()
        x = images(X, self.data_dir)
        if reference is None:
            order = np.random.default_rng(self.seed).permutation(len(x))
            half = len(x) // 2
            reference_x, x = x[np.sort(order[:half])], x[np.sort(order[half:])]
        else:
            reference_x = images(reference, self.data_dir)
        log_p, stats = self._score(reference_x)
        self._reference = {"log_p": log_p, "parts": stats}
        return self._fit_log_likelihood(x, self.fpr)

    def infer_threshold(self, X: Images, fpr: float = 0.05) -> "Detector":
        """Sets every threshold so that about ``fpr`` of the in-distribution images ``X``
        are flagged (alibi-detect's name for it); the reference is kept.

        Returns
        -------
        Detector
            ``self``, with thresholds at ``fpr``.
        """
        if self.log_likelihood is None:
            self.fpr = fpr
            return self.fit(X)
        self._check_fitted()
        self.fpr = fpr
        return self._fit_log_likelihood(images(X, self.data_dir), fpr)

    def _fit_log_likelihood(self, x: npt.NDArray[np.uint8], fpr: float) -> "Detector":
        assert self._reference is not None
        log_p, stats = self._score(x)
        self._handle = _genood.fit_log_likelihoods(
            self._reference["log_p"],
            self._reference["parts"],
            log_p,
            stats,
            x,
            list(self.scores),
            fpr,
            self.batch,
            self.codec,
            self.seed,
        )
        return self._fitted()

    def _fitted(self) -> "Detector":
        assert self._handle is not None
        fitted = json.loads(self._handle.to_json())
        self.thresholds_ = {s["score"]: s["threshold"] for s in fitted["scores"]}
        self.offset_ = -float(fitted["combined"]["threshold"])
        self.fpr_ = float(fitted["fpr"])
        self.calibration_images_ = int(fitted["calibration_images"])
        return self

    # Judging ------------------------------------------------------------------------------

    def score_samples(self, X: Images, *, per_score: bool = False) -> Any:
        """How normal each image is: higher is more normal (scikit-learn's sign).

        Parameters
        ----------
        X : uint8 array or str
            Images, or a set's name.
        per_score : bool, default False
            Also give each score's own value (negated, so higher is more normal).

        Returns
        -------
        ndarray of shape (n_images,), or a table
            Minus the combined score (the largest calibration percentile, 0–100); with
            ``per_score``, a DataFrame (or dict of arrays) with a column per score and
            ``combined``.
        """
        judged = self._judge(X)
        combined = -judged["combined"]
        if not per_score:
            return combined
        columns: Dict[str, Any] = {name: -values for name, values in judged["values"].items()}
        columns["combined"] = combined
        return table(columns)

    def decision_function(self, X: Images) -> npt.NDArray[np.float64]:
        """``score_samples(X) - offset_``: negative for images the detector flags."""
        decision: npt.NDArray[np.float64] = self.score_samples(X) - self.offset_
        return decision

    def predict(self, X: Images) -> npt.NDArray[np.int64]:
        """+1 for each image judged in-distribution, -1 for each flagged as OOD."""
        return np.where(self._judge(X)["ood"], -1, 1).astype(np.int64)

    def p_values(self, X: Images) -> npt.NDArray[np.float64]:
        """Each image's conformal p-value: the share of calibration images (counting it) whose
        combined score is at least as high. An in-distribution image's p-value is at most
        ``a`` with probability at most ``a``."""
        p: npt.NDArray[np.float64] = self._judge(X)["p_value"]
        return p

    def detect(self, X: Images) -> Any:
        """The verdicts ``genood detect`` writes, one row per image.

        Returns
        -------
        DataFrame or dict of arrays
            ``log_p``, ``bpd``, each score and its calibration percentile (scores grow with
            OOD-ness), ``combined_percentile``, ``p_value``, the batch test's ``batch`` (-1:
            in no batch) and ``batch_flagged``, and ``verdict`` (``"in"`` or ``"ood"``).
        """
        judged = self._judge(X)
        columns: Dict[str, Any] = {"log_p": judged["log_p"], "bpd": judged["bpd"]}
        for name, values in judged["values"].items():
            columns[name] = values
            columns[f"{name}_percentile"] = judged["percentiles"][name]
        columns["combined_percentile"] = judged["combined"]
        columns["p_value"] = judged["p_value"]
        columns["batch"] = judged["batch"]
        columns["batch_flagged"] = judged["batch_flagged"]
        columns["verdict"] = np.where(judged["ood"], "ood", "in")
        return table(columns)

    def compare(
        self,
        X_in: Images,
        X_ood: Union[Images, Mapping[str, Images]],
        *,
        reference: Optional[Images] = None,
        resamples: int = 1000,
    ) -> "ScoreTable":
        """Every score of ``genood score`` on in-distribution ``X_in`` against each OOD set:
        AUROC, AUPR and FPR at 95% TPR with bootstrap intervals, typicality in batches,
        input complexity, DoSE, and the likelihood ratio and WAIC where a background model or
        an ensemble was given.

        Parameters
        ----------
        X_in : uint8 array or str
            In-distribution test images.
        X_ood : uint8 array, str, or dict of name to either
            The OOD sets.
        reference : uint8 array or str, optional
            In-distribution images for the entropy estimate and DoSE's density (default:
            the detector's own reference; for a run, a seeded subset of its training set).

        Returns
        -------
        ScoreTable
        """
        from .experiment import score

        if reference is None and self.log_likelihood is None:
            reference = self._run_reference()
        if reference is None:
            self._check_fitted()
        return score(
            self._model(),
            X_in,
            X_ood,
            reference=reference,
            reference_scores=self._reference if reference is None else None,
            background=self.background,
            ensemble=self.ensemble,
            resamples=resamples,
            seed=self.seed,
            data_dir=self.data_dir,
        )

    # Saving -------------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the fitted thresholds as JSON (the format of a run's ``detector.json``)."""
        self._check_fitted()
        assert self._handle is not None
        Path(path).write_text(self._handle.to_json())

    def load_thresholds(self, path: PathLike) -> "Detector":
        """Reads thresholds that :meth:`save` or ``genood detect`` wrote; returns ``self``."""
        self._handle = _genood.DetectorHandle.from_json(Path(path).read_text())
        return self._fitted()

    # Helpers ------------------------------------------------------------------------------

    def _run(self) -> Run:
        if self.run is None:
            raise ValueError("a detector needs a run, or a log-likelihood (Detector.from_log_likelihood)")
        if not isinstance(self.run, Run):
            self.run = Run.open(self.run)
        return self.run

    def _model(self) -> Model:
        return self.log_likelihood if self.log_likelihood is not None else self._run()

    def _run_reference(self) -> npt.NDArray[np.uint8]:
        """A seeded subset of the run's training images."""
        x = images(self._run().config["data"], self.data_dir)
        rng = np.random.default_rng(self.seed)
        keep = np.sort(rng.permutation(len(x))[: self.reference_images])
        subset: npt.NDArray[np.uint8] = x[keep]
        return subset

    def _score(self, x: npt.NDArray[np.uint8]) -> Any:
        return scorer(self._model())(x, self.data_dir)

    def _check_fitted(self) -> None:
        if self._handle is None:
            raise NotFittedError("this Detector is not fitted yet; call fit with in-distribution images first")

    def _judge(self, X: Images) -> Dict[str, Any]:
        self._check_fitted()
        assert self._handle is not None
        name = name_of(X, "images")
        if self.log_likelihood is None:
            run = self._run()
            return self._handle.judge_run(
                run._handle,
                X,
                name,
                _common.data_dir(self.data_dir),
                self.grouping,
                self.seed,
                500,
                self.iw_samples,
                _common.threads(self.threads),
                callback(self.progress),
            )
        x = images(X, self.data_dir)
        log_p, stats = self._score(x)
        judged: Dict[str, Any] = self._handle.judge_scores(log_p, stats, x, name, self.grouping, self.seed)
        return judged

    def __repr__(self) -> str:
        model = "log-likelihood" if self.log_likelihood is not None else repr(self.run)
        fitted = f", fitted on {self.calibration_images_} images" if self._handle is not None else ""
        return f"Detector({model}, scores={list(self.scores)}, fpr={self.fpr}{fitted})"


class NotFittedError(ValueError, AttributeError):
    """A detector used before :meth:`Detector.fit` (scikit-learn's exception of that name)."""


from .experiment import ScoreTable  # noqa: E402  (ScoreTable needs nothing from here)
