"""Digits k-means demo: the elbow of the inertia curve, k = 1..max_k, on scikit-learn's 8x8 digits.

    python kmeans.py --max_k 12 --seed 0 --n_init 2

For each k the script fits ``KMeans`` and records the inertia and the silhouette score as one
curve over k (``ht.log_curve("k", ...)``, the experiment page's elbow chart), then a summary.
The data ship with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys

from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from workbench_plugin import tracking as ht


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--max_k", type=int, default=12, help="largest number of clusters tried (default 12)")
    ap.add_argument("--seed", type=int, default=0, help="k-means initialisation seed (default 0)")
    ap.add_argument("--n_init", type=int, default=2, help="k-means restarts per k (default 2)")
    args = ap.parse_args(argv)
    for name, ok, allowed in (("max_k", 3 <= args.max_k <= 100, "between 3 and 100"),
                              ("n_init", args.n_init >= 1, ">= 1")):
        if not ok:
            ap.error(f"--{name} must be {allowed}, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    x = load_digits().data / 16.0
    ks = list(range(1, args.max_k + 1))
    inertia: list[float] = []
    silhouette: list[float | None] = []
    for k in ks:
        with threadpool_limits(limits=1):  # small data: threads only contend with the other experiments
            model = KMeans(n_clusters=k, n_init=args.n_init, random_state=args.seed).fit(x)
        inertia.append(float(model.inertia_))
        # silhouette is defined from 2 clusters on; a sample keeps it quick
        silhouette.append(None if k == 1 else float(
            silhouette_score(x, model.labels_, sample_size=600, random_state=args.seed)))
        print(f"k={k} inertia={inertia[-1]:.1f}", flush=True)
    ht.log_curve("k", ks, inertia=inertia, silhouette=silhouette)
    scored = [(s, k) for s, k in zip(silhouette, ks, strict=True) if s is not None]
    best, best_k = max(scored)
    ht.summary(inertia=inertia[-1], best_silhouette=best, best_silhouette_k=best_k)
    print(f"done: best silhouette {best:.3f} at k={best_k}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
