"""The package's conventions: numpy in and out, scikit-learn's signs and labels, errors as
the exceptions Python users expect, documentation that reads like scikit-learn's."""

from __future__ import annotations

import json
import math
import pydoc
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import numpy as np
import numpy.typing as npt
import pytest

import genood

Images = npt.NDArray[np.uint8]


def test_log_prob_and_bpd_follow_the_one_formula(tiny_run: genood.Run, fashion: Tuple[Images, Images]) -> None:
    test = fashion[1][:300]
    log_p, bpd = tiny_run.log_prob(test), tiny_run.bpd(test)
    assert log_p.dtype == np.float64 and log_p.shape == (300,)
    np.testing.assert_allclose(bpd, -log_p / (784 * math.log(2)), rtol=1e-12)
    stats = tiny_run.evaluate(test)
    assert list(stats.columns) == ["log_p", "bpd", "log_prior", "log_det"]
    # The flow's terms add up to log p.
    np.testing.assert_allclose(stats["log_prior"] + stats["log_det"], stats["log_p"], rtol=1e-4)


def test_every_image_layout_gives_the_same_scores(tiny_run: genood.Run, fashion: Tuple[Images, Images]) -> None:
    grey = fashion[1][:64]
    expected = tiny_run.log_prob(grey)
    for layout in (grey[:, :, :, None], grey[:, None], np.asfortranarray(grey), grey[::-1][::-1]):
        np.testing.assert_array_equal(tiny_run.log_prob(layout), expected)
    # A set's name is accepted wherever an array is. Its dequantisation noise is keyed by its
    # name, an array's by its position, so the two agree within that noise.
    np.testing.assert_allclose(tiny_run.log_prob("fashion-mnist:test")[:64], expected, rtol=0.02)


def test_the_scores_are_those_genood_eval_writes(
    tiny_run: genood.Run, fashion: Tuple[Images, Images], tmp_path: Path
) -> None:
    """The binary scores the same images, saved as .npy and named alike, to the same numbers."""
    binary = Path(__file__).resolve().parents[2] / "target" / "release" / "genood"
    images = fashion[1][:200]
    np.save(tmp_path / "images.npy", images)
    subprocess.run(
        [str(binary), "eval", "--run", str(tiny_run.path), "--data", f"npy:{tmp_path / 'images.npy'}", "--threads", "2"],
        check=True,
        capture_output=True,
    )
    csv = next((tiny_run.path / "scores").glob("*images*.csv"))
    written = np.genfromtxt(csv, delimiter=",", names=True)
    np.testing.assert_array_equal(tiny_run.log_prob(f"npy:{tmp_path / 'images.npy'}"), written["log_p"])


def test_samples_come_back_as_images(tiny_run: genood.Run) -> None:
    samples = tiny_run.sample(6, seed=1)
    assert samples.dtype == np.uint8 and samples.shape == (6, 28, 28)
    np.testing.assert_array_equal(samples, tiny_run.sample(6, seed=1))


@pytest.mark.parametrize(
    "bad, expected",
    [
        (np.zeros((4, 28, 28), dtype=np.float32), "dtype float32"),
        (np.zeros((28, 28), dtype=np.uint8), "shape [28, 28]"),
        (np.zeros((4, 28, 28, 2), dtype=np.uint8), "with C = 1 or 3"),
        (np.zeros((4, 3, 28, 28), dtype=np.uint8), "the model takes [1, 28, 28]"),
        (np.zeros((0, 28, 28), dtype=np.uint8), "holds no images"),
    ],
)
def test_bad_images_are_refused_with_the_shapes_expected(tiny_run: genood.Run, bad: Images, expected: str) -> None:
    with pytest.raises(ValueError) as raised:
        tiny_run.log_prob(bad)
    assert isinstance(raised.value, genood.GenoodError)
    assert expected in str(raised.value), str(raised.value)


def test_errors_are_the_exceptions_python_users_expect(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        genood.Run.open(tmp_path / "nothing")
    assert isinstance(missing.value, genood.GenoodError)
    assert "nothing" in str(missing.value)
    with pytest.raises(ValueError, match="unknown"):
        genood.load("no-such-set:test")
    with pytest.raises(ValueError, match="tiny"):
        genood.train(tmp_path / "run", "fashion-mnist:train", preset="huge")
    with pytest.raises(ValueError):
        genood.metrics([], [1.0])
    with pytest.raises(genood.NotFittedError):
        genood.Detector(tmp_path).predict(np.zeros((1, 28, 28), np.uint8))


def test_the_detector_follows_scikit_learns_conventions(
    tiny_run: genood.Run, fashion: Tuple[Images, Images], mnist: Images, tmp_path: Path
) -> None:
    test = fashion[1]
    detector = genood.Detector(tiny_run).fit(test[:2000])
    x = np.concatenate([test[2000:2100], mnist[:100]])
    normal, decision, labels = detector.score_samples(x), detector.decision_function(x), detector.predict(x)
    np.testing.assert_allclose(decision, normal - detector.offset_)
    np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))
    assert set(np.unique(labels)) <= {-1, 1}
    # MNIST is less normal than FashionMNIST by the combined score.
    assert normal[100:].mean() < normal[:100].mean()
    p = detector.p_values(x)
    assert ((p > 0) & (p <= 1)).all() and p[100:].mean() < p[:100].mean()
    verdicts = detector.detect(x)
    np.testing.assert_array_equal(verdicts["verdict"] == "ood", labels == -1)
    assert {"typicality_percentile", "combined_percentile", "batch", "batch_flagged"} <= set(verdicts.columns)
    # infer_threshold sets the rate: at 20%, about a fifth of the calibration images are flagged.
    loose = genood.Detector(tiny_run).infer_threshold(test[:2000], fpr=0.2)
    assert abs((loose.predict(test[:2000]) == -1).mean() - 0.2) < 0.02
    # Thresholds saved and read back judge alike.
    detector.save(tmp_path / "detector.json")
    assert json.loads((tmp_path / "detector.json").read_text())["fpr"] == 0.05
    again = genood.Detector(tiny_run).load_thresholds(tmp_path / "detector.json")
    np.testing.assert_array_equal(again.predict(x), labels)


def test_metrics_take_plain_arrays() -> None:
    # Perfectly separated, then identical scores.
    assert genood.metrics([0.1, 0.2, 0.3], [0.4, 0.5], resamples=50)["auroc"]["value"] == 1.0
    assert genood.metrics([1.0, 1.0], [1.0, 1.0], resamples=50)["auroc"]["value"] == 0.5
    # One of four OOD-vs-in pairs misordered: 3/4.
    assert genood.metrics([0.0, 0.3], [0.2, 0.5], resamples=50)["auroc"]["value"] == 0.75


def test_help_reads_like_scikit_learns_docs() -> None:
    text = pydoc.render_doc(genood.Detector, renderer=pydoc.plaintext)
    for section in ("Parameters", "Attributes", "Examples", "Returns", "fit(", "score_samples(", "predict(", "infer_threshold(", "from_log_likelihood("):
        assert section in text, section
    out = subprocess.run([sys.executable, "-c", "import genood; help(genood.Detector)"], capture_output=True, text=True, check=True)
    assert "false-positive rate" in out.stdout


def test_a_diffusion_models_own_detectors_reach_python(
    tmp_path: Path, fashion: Tuple[Images, Images], mnist: Images
) -> None:
    run = genood.train(tmp_path / "diffusion", fashion[0][:2000], preset="tiny", model="diffusion", steps=20, progress=False)
    scores = run.evaluate(fashion[1][:20], iw_samples=2)
    for column in ["prior_kl", "reconstruction", "diffusion", "msma@0.1", "path_rate", "recon@0.8"]:
        assert len(np.asarray(scores[column])) == 20, column
    np.testing.assert_allclose(
        np.asarray(scores["log_p"]),
        -(np.asarray(scores["prior_kl"]) + np.asarray(scores["reconstruction"]) + np.asarray(scores["diffusion"])),
        rtol=1e-6,
    )
    def fit(iw_samples: int) -> genood.Detector:
        detector = genood.Detector(run, scores=["typicality", "msma"], reference_images=30, iw_samples=iw_samples)
        return detector.fit(fashion[1][:30])

    detector = fit(2)
    assert set(np.unique(detector.predict(mnist[:20]))) <= {-1, 1}
    # The bound's draws per image reach the fit: one draw gives other log-likelihoods.
    assert fit(1).thresholds_["typicality"] != detector.thresholds_["typicality"]
    # A diffusion model has no hierarchical VAE's likelihood ratios: refused by name.
    with pytest.raises(ValueError, match="needs a hierarchical VAE's likelihood ratios"):
        genood.Detector(tmp_path / "diffusion", scores=["llr"], reference_images=2).fit(fashion[1][:2])
