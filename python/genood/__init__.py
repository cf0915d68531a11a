"""genood: can you trust your generative model's likelihood to flag inputs unlike its
training data?

Train deep generative models (Glow, CV-Glow, PixelCNN++, VAEs) on numpy arrays, measure
exact bits per dimension, and detect out-of-distribution inputs with the scores that work
where the likelihood fails (Nalisnick et al., 2019), for genood's models or any model's
log-likelihood.

>>> import genood
>>> x, _ = genood.load("fashion-mnist:train")                       # doctest: +SKIP
>>> run = genood.train("runs/tiny", x, preset="tiny", steps=300)      # doctest: +SKIP
>>> detector = genood.Detector(run).fit(held_out)                    # doctest: +SKIP
>>> detector.predict(mnist)                                           # doctest: +SKIP
"""

from .detector import FAMILY_SCORES, SCORES, Detector, NotFittedError
from .errors import GenoodError, GenoodFileNotFoundError, GenoodValueError
from .experiment import Report, ScoreTable, fetch, load, metrics, reproduce, score, score_run
from .run import Run, train

__all__ = [
    "SCORES",
    "FAMILY_SCORES",
    "Detector",
    "GenoodError",
    "GenoodFileNotFoundError",
    "GenoodValueError",
    "NotFittedError",
    "Report",
    "Run",
    "ScoreTable",
    "fetch",
    "load",
    "metrics",
    "reproduce",
    "score",
    "score_run",
    "train",
]
