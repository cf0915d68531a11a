"""The experiment from Python: ``genood.reproduce`` returns a report that shows inline and
saves as the same page; ``genood.score_run`` is ``genood score`` on its run folders."""

from __future__ import annotations

from pathlib import Path

import genood


def test_reproduce_returns_a_report(tmp_path: Path) -> None:
    report = genood.reproduce(
        tmp_path / "out", preset="tiny", models=["glow"], eval_limit=500, train_eval_limit=500, progress=False
    )
    assert report.folder.name == "fashion-mnist-mnist-glow-tiny"
    assert "bpd" in report.summary
    page = report.report_path.read_text()
    assert report._repr_html_().startswith("<iframe srcdoc=")
    assert report.save(tmp_path / "copy.html").read_text() == page
    # genood score's code path on the reproduction's run folder gives the numbers it reported.
    table = genood.score_run(report.folder / "glow", "fashion-mnist:test", ["mnist:test"], "fashion-mnist:train")
    likelihood = next(r for r in report.results["models"][0]["ood_scores"] if r["score"] == "likelihood (bpd)")
    assert table.auroc("likelihood (bpd)") == likelihood["metrics"]["auroc"]["value"]
