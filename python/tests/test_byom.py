"""Bring your own model: a scikit-learn GaussianMixture on PCA-reduced FashionMNIST, its
``score_samples`` as the log-likelihood. The detector's scores and AUROCs against MNIST
must equal those of the same arrays pushed through ``genood score``'s code path."""

from __future__ import annotations

from typing import Any, Callable, Tuple

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

import genood

Images = npt.NDArray[np.uint8]


def flat(x: Images) -> npt.NDArray[np.float64]:
    return x.reshape(len(x), -1).astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def gmm(fashion: Tuple[Images, Images]) -> Callable[[Images], npt.NDArray[np.float64]]:
    """A 10-component GaussianMixture on 20 principal components of 10,000 training images."""
    x = flat(fashion[0][:10_000])
    pca = PCA(n_components=20, random_state=0).fit(x)
    mixture = GaussianMixture(n_components=10, covariance_type="full", random_state=0).fit(pca.transform(x))

    def log_likelihood(images: Images) -> npt.NDArray[np.float64]:
        scores: npt.NDArray[np.float64] = mixture.score_samples(pca.transform(flat(images)))
        return scores

    return log_likelihood


def test_a_foreign_models_detector_matches_genood_score(
    gmm: Callable[[Images], npt.NDArray[np.float64]], fashion: Tuple[Images, Images], mnist: Images
) -> None:
    train, test = fashion
    reference, calibration, held_out = train[10_000:12_000], test[:5000], test[5000:]
    detector = genood.Detector.from_log_likelihood(gmm).fit(calibration, reference=reference)
    table = genood.score(gmm, held_out, {"mnist": mnist}, reference=reference)
    # The same arrays through both paths: every per-image score equal, every AUROC too.
    rows = {
        "likelihood": "likelihood (bpd)",
        "typicality": "typicality",
        "complexity": "input complexity (webp-lossless)",
        "dose": "dose",
    }
    in_scores: Any = detector.detect(held_out)
    ood_scores: Any = detector.detect(mnist)
    for score, row in rows.items():
        expected_in, expected_ood = table.values(row)
        np.testing.assert_allclose(np.asarray(in_scores[score]), expected_in, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(ood_scores[score]), expected_ood, rtol=0, atol=1e-12)
        auroc = genood.metrics(in_scores[score], ood_scores[score], resamples=200)["auroc"]["value"]
        assert abs(auroc - table.auroc(row)) <= 1e-12, score
    # score_samples is minus the scores: higher is more normal.
    per_score = detector.score_samples(mnist[:50], per_score=True)
    np.testing.assert_array_equal(np.asarray(per_score["typicality"]), -np.asarray(ood_scores["typicality"])[:50])
    # The detector works on this model: most MNIST digits are flagged, about 5% of held-out
    # FashionMNIST.
    assert (detector.predict(mnist) == -1).mean() > 0.5
    assert abs((detector.predict(held_out) == -1).mean() - 0.05) < 0.02


def test_background_and_ensemble_add_the_likelihood_ratio_and_waic(
    fashion: Tuple[Images, Images], mnist: Images
) -> None:
    train, test = fashion
    x = flat(train[:5000])
    pca = PCA(n_components=10, random_state=0).fit(x)

    def mixture(seed: int, data: npt.NDArray[np.float64]) -> Callable[[Images], npt.NDArray[np.float64]]:
        fitted = GaussianMixture(n_components=4, random_state=seed).fit(pca.transform(data))
        return lambda images: np.asarray(fitted.score_samples(pca.transform(flat(images))))

    noisy = np.where(np.random.default_rng(0).random(x.shape) < 0.2, np.random.default_rng(1).random(x.shape), x)
    model, background = mixture(0, x), mixture(0, noisy)
    ensemble = [mixture(1, x), mixture(2, x)]
    table = genood.score(model, test[:1000], mnist[:1000], reference=train[5000:6000], background=background, ensemble=ensemble, resamples=100)
    kinds = {row["kind"] for row in table.rows}
    assert {"likelihood-ratio", "waic"} <= kinds
    assert table.auroc("WAIC (3 models)") == table.auroc("waic")
    in_scores, ood_scores = table.values("likelihood-ratio")
    expected = -(model(mnist[:1000]) - background(mnist[:1000]))
    np.testing.assert_allclose(ood_scores, expected, rtol=0, atol=1e-9)
    assert len(in_scores) == 1000
