"""Type stubs of the extension module (the Rust bindings); the public API is in the
package's Python modules."""

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

_Progress = Optional[Callable[..., None]]
_Rows = Tuple[str, List[Tuple[Any, Any]], str]

class RunHandle:
    @property
    def path(self) -> Path: ...
    @property
    def config_json(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def model_sha256(self) -> str: ...
    @property
    def image_shape(self) -> Tuple[int, int, int]: ...
    def score(
        self,
        images: Any,
        name: str,
        data_dir: Path,
        batch_size: int,
        iw_samples: int,
        seed: int,
        threads: int,
        progress: _Progress = None,
    ) -> Dict[str, Any]: ...
    def sample(
        self, count: int, temperature: float, seed: int, progress: _Progress = None
    ) -> npt.NDArray[np.uint8]: ...

class DetectorHandle:
    def judge_run(
        self,
        run: RunHandle,
        images: Any,
        name: str,
        data_dir: Path,
        grouping: str,
        seed: int,
        batch_size: int,
        iw_samples: int,
        threads: int,
        progress: _Progress = None,
    ) -> Dict[str, Any]: ...
    def judge_scores(
        self,
        log_p: Any,
        parts_of: Optional[Dict[str, Any]],
        images: Any,
        name: str,
        grouping: str,
        seed: int,
    ) -> Dict[str, Any]: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(text: str) -> DetectorHandle: ...

def threads() -> int: ...
def open_run(path: Path) -> RunHandle: ...
def train(
    run_dir: Path,
    data: Any,
    model: str,
    preset: str,
    start: str,
    data_dir: Path,
    threads: int,
    progress: _Progress = None,
    **overrides: Any,
) -> str: ...
def fit_run(
    run: RunHandle,
    calibration: Any,
    data_dir: Path,
    scores: List[str],
    fpr: float,
    batch: int,
    codec: str,
    reference_images: int,
    iw_samples: int,
    seed: int,
    threads: int,
    progress: _Progress = None,
) -> DetectorHandle: ...
def fit_log_likelihoods(
    reference_log_p: Any,
    reference_parts: Optional[Dict[str, Any]],
    calibration_log_p: Any,
    calibration_parts: Optional[Dict[str, Any]],
    calibration_images: Any,
    scores: List[str],
    fpr: float,
    batch: int,
    codec: str,
    seed: int,
) -> DetectorHandle: ...
def fetch(names: List[str], data_dir: Path, mirror: Optional[Path] = None, progress: _Progress = None) -> None: ...
def load(name: str, data_dir: Path, seed: int = 0) -> Tuple[npt.NDArray[np.uint8], Optional[npt.NDArray[np.uint32]]]: ...
def metrics(in_scores: List[float], ood_scores: List[float], resamples: int, seed: int) -> str: ...
def score_arrays(
    reference_log_p: Any,
    reference_parts: Optional[Dict[str, Any]],
    inside: Dict[str, Any],
    outside: List[Dict[str, Any]],
    resamples: int,
    seed: int,
) -> _Rows: ...
def score_run(
    run_dir: Path,
    in_dist: str,
    ood: List[str],
    reference: str,
    background: Optional[Path],
    ensemble: List[Path],
    resamples: int,
    seed: int,
    data_dir: Path,
) -> _Rows: ...
def reproduce(
    out: Path,
    pair: str,
    preset: str,
    models: List[str],
    steps: Optional[int],
    eval_limit: Optional[int],
    train_eval_limit: int,
    threads: int,
    data_dir: Path,
    mirror: Optional[Path] = None,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
