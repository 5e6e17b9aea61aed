"""The default stdout parser on real training output (tests/data/stdout): the figure, and no false points.

    python -m scripts.stdout_corpus      # the same table, without pytest
"""

from __future__ import annotations

from scripts.stdout_corpus import report, score_corpus, score_negative


def test_corpus_is_captured_at_least_90_percent(figure: list[str]) -> None:
    scores, negative = score_corpus(), score_negative()
    text = report(scores, negative)
    print("\n" + text)
    figure.append("stdout corpus, default parser: " + text.strip().splitlines()[-1])
    assert len(scores) >= 46
    assert sum(s.captured for s in scores) / len(scores) >= 0.9


def test_negative_corpus_gives_no_points() -> None:
    failed = {s.name: s.misses for s in score_negative() if not s.captured}
    assert failed == {}
