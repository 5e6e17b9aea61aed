"""How much of the stdout corpus the default parser reads: one line per sample, then the figure.

    python -m scripts.stdout_corpus

The corpus (``tests/data/stdout``) holds real training output and, in ``index.json``, the metrics a
person reads from each sample, written by hand. A sample is captured when every expected point is
matched by a point of the default parser (names normalised, values within rounding, the epoch and
step right where the sample's line gives them) and no metric is named after one of the run's
hyperparameters (an echo such as ``lr 20.0``). ``negative/*.txt`` holds real lines that are not
metrics: each must give no point.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin.patterns import Point, StdoutParser  # noqa: E402

__all__ = ["CORPUS", "Score", "main", "norm", "parse_sample", "score_corpus", "score_negative"]

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "stdout"


class Score(NamedTuple):
    name: str
    captured: bool
    misses: list[str]


def norm(name: str) -> str:
    """``Acc@1`` -> ``acc_1``, ``valid loss`` -> ``valid_loss``, ``train/loss`` -> ``train_loss``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def parse_sample(text: str, hyperparameters: list[str]) -> list[Point]:
    try:
        parser = StdoutParser(None, hyperparameters=hyperparameters)
    except TypeError:  # a parser from before hyperparameter echoes
        parser = StdoutParser()
    points: list[Point] = []
    for line in text.split("\n"):
        points.extend(parser.feed(line))
    close = getattr(parser, "close", None)
    if close is not None:
        points.extend(close())
    return points


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _matches(expected: dict[str, Any], point: Point) -> bool:
    if expected.get("epoch") is not None and point.epoch != expected["epoch"]:
        return False
    if expected.get("step") is not None and point.step != expected["step"]:
        return False
    got = {norm(k): v for k, v in point.metrics.items()}
    return all(norm(k) in got and _same(got[norm(k)], v) for k, v in expected["metrics"].items())


def _describe(expected: dict[str, Any]) -> str:
    where = " ".join(f"{k} {expected[k]}" for k in ("epoch", "step") if expected.get(k) is not None)
    return f"{where or 'point'} {expected['metrics']}"


def score_sample(name: str, entry: dict[str, Any]) -> Score:
    points = parse_sample((CORPUS / f"{name}.txt").read_text(), entry["hyperparameters"])
    misses = [f"missed {_describe(e)}" for e in entry["points"] if not any(_matches(e, p) for p in points)]
    echoes = {norm(h) for h in entry["hyperparameters"]}
    invented = sorted({k for p in points for k in p.metrics if norm(k) in echoes})
    misses += [f"hyperparameter echo read as a metric: {k}" for k in invented]
    return Score(name, not misses, misses)


def score_corpus() -> list[Score]:
    index = json.loads((CORPUS / "index.json").read_text())
    return [score_sample(name, entry) for name, entry in sorted(index["samples"].items())]


def score_negative() -> list[Score]:
    scores = []
    for path in sorted((CORPUS / "negative").glob("*.txt")):
        points = parse_sample(path.read_text(), [])
        scores.append(Score(path.stem, not points, [f"invented {p}" for p in points]))
    return scores


def report(scores: list[Score], negative: list[Score]) -> str:
    lines = [f"{'ok' if s.captured else 'MISS':<5} {s.name}" + "".join(f"\n        {m}" for m in s.misses)
             for s in scores]
    lines += [f"{'ok' if s.captured else 'MISS':<5} negative/{s.name}" + "".join(f"\n        {m}" for m in s.misses)
              for s in negative]
    n, ok = len(scores), sum(s.captured for s in scores)
    clean = sum(s.captured for s in negative)
    lines.append(f"captured {ok}/{n} samples ({round(100 * ok / n)} %); "
                 f"negative: {clean}/{len(negative)} files give no point")
    return "\n".join(lines)


def main() -> None:
    print(report(score_corpus(), score_negative()))


if __name__ == "__main__":
    main()
