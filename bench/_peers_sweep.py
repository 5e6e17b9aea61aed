"""One synthetic sweep, written into HyperTuner's store, an Optuna journal and an MLflow file store.

The sweep (:func:`make_sweep`) is plain numpy and needs no peer; each ``write_*`` function
imports its peer only when called, and each ``read_*`` function reads a store back into the
same shape (:class:`StoreFigures`) so that a test can check the three hold the same numbers.

Shape: ``n`` runs, 4 hyperparameters (``batch_size``, ``lr``, ``num_epochs``, ``dropout``, as
in :mod:`bench.synthetic`), 3 final metrics (``test_loss``, ``test_acc``, ``train_seconds``)
and 2 curves (``train_loss``, ``val_loss``) over ``epochs`` epochs.

How each store holds it:

* HyperTuner: one run through the Store API (``write_run``, one Parquet metric part per 1,000
  runs, one ``succeeded`` state event per run), curves as ``epoch`` rows, finals as
  ``summary`` rows;
* Optuna: a study with 3 objectives (the finals, as values), the params with their
  distributions, ``val_loss`` as intermediate values (``trial.report``'s place: one curve per
  trial) and ``train_loss`` as a user attribute (a list), added with ``study.add_trials``;
* MLflow: one run per sweep run in one experiment, params, the finals as single-step metrics
  and the curves as metric histories (steps 1..epochs), one ``log_batch`` per run.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import BATCH_SIZES, _curves, _params  # noqa: E402

__all__ = ["HPARAMS", "FINALS", "CURVES", "Sweep", "StoreFigures", "make_sweep", "figures_of",
           "write_hypertuner", "write_optuna", "write_mlflow",
           "read_hypertuner", "read_optuna", "read_mlflow"]

HPARAMS = ("batch_size", "lr", "num_epochs", "dropout")
FINALS = ("test_loss", "test_acc", "train_seconds")
CURVES = ("train_loss", "val_loss")
DIRECTIONS: tuple[Literal["minimize", "maximize"], ...] = ("minimize", "maximize", "minimize")
PROJECT = "peers"
STUDY = "peers"


class Sweep(NamedTuple):
    """``params[h]`` and ``finals[m]`` have shape ``(n,)``; ``curves[c]`` ``(n, epochs)``."""

    n: int
    epochs: int
    params: dict[str, np.ndarray]
    finals: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]

    def param_values(self, i: int) -> dict[str, Any]:
        """Run ``i``'s hyperparameters as Python values (ints stay ints)."""
        return {"batch_size": int(self.params["batch_size"][i]), "lr": float(self.params["lr"][i]),
                "num_epochs": int(self.params["num_epochs"][i]),
                "dropout": float(self.params["dropout"][i])}


class StoreFigures(NamedTuple):
    """What a store holds, in sweep order (sorted by the run's index): the checkable numbers."""

    n: int
    params: dict[str, list[float]]
    finals: dict[str, list[float]]
    last_curve_points: dict[str, list[float]]


def make_sweep(n: int = 10_000, *, epochs: int = 20, seed: int = 0) -> Sweep:
    """The sweep: same ``n``, ``epochs`` and ``seed`` give the same numbers, on every machine."""
    if n < 1 or epochs < 1:
        raise ValueError(f"sweep: n and epochs must be >= 1, got n={n}, epochs={epochs}")
    rng = np.random.default_rng(seed)
    params = _params(n, epochs, rng)
    curves = _curves(params, epochs, rng)
    train, val = curves["train_loss"], curves["val_loss"]
    finals = {
        "test_loss": np.round(val[:, -1] + rng.normal(0, 0.02, n), 6),
        "test_acc": np.round(curves["val_acc"][:, -1], 6),
        "train_seconds": np.round(params["num_epochs"] * (2.0 + 256.0 / params["batch_size"])
                                  * rng.uniform(0.9, 1.1, n), 3),
    }
    return Sweep(n, epochs, params, finals,
                 {"train_loss": np.round(train, 6), "val_loss": np.round(val, 6)})


def figures_of(sweep: Sweep) -> StoreFigures:
    return StoreFigures(
        sweep.n,
        {h: [float(v) for v in sweep.params[h]] for h in HPARAMS},
        {m: [float(v) for v in sweep.finals[m]] for m in FINALS},
        {c: [float(v) for v in sweep.curves[c][:, -1]] for c in CURVES},
    )


# ---- HyperTuner -----------------------------------------------------------------------------
def write_hypertuner(sweep: Sweep, root: str, *, part_size: int = 1000) -> str:
    """Write the sweep as one run of project ``peers``; returns the run id."""
    import getpass

    from workbench_plugin.store import Experiment, Run, Store

    store = Store(root)
    store.create_project(PROJECT, str(Path(root, "src")))
    run_id = Store.new_run_id()
    ids = [f"{run_id}-{i}" for i in range(sweep.n)]
    rows = []
    for i in range(sweep.n):
        values = sweep.param_values(i)
        rows.append(Experiment(experiment_id=ids[i], run_id=run_id, index=i, params=values,
                               argv=[f"--{k}={v}" for k, v in values.items()]))
    store.write_run(Run(
        run_id=run_id, project=PROJECT, created=time.time(), author=getpass.getuser(),
        script="train.py", interpreter="python", flag_style="--name=value",
        spec={"batch_size": ",".join(map(str, BATCH_SIZES)), "lr": "1e-4.5..1e-1 log",
              "num_epochs": "5,10,20", "dropout": "0..0.6"},
        scales={"lr": "log"}, snapshot_id="peers", data_id="", engine="local",
        n_experiments=sweep.n, note="peers sweep (bench/peers.py)"), rows)
    e, nc, nf = sweep.epochs, len(CURVES), len(FINALS)
    start = time.time() - 3600.0
    for lo in range(0, sweep.n, part_size):
        hi = min(sweep.n, lo + part_size)
        k = hi - lo
        per = nc * e + nf  # rows per run: the curves, then one summary per final metric
        eid = np.repeat(np.array(ids[lo:hi], dtype=object), per)
        epoch = np.tile(np.concatenate([np.tile(np.arange(1, e + 1), nc), np.full(nf, e)]), k)
        kind = np.tile(np.array(["epoch"] * (nc * e) + ["summary"] * nf, dtype=object), k)
        name = np.tile(np.array([c for c in CURVES for _ in range(e)] + list(FINALS), dtype=object), k)
        value = np.concatenate([np.concatenate([sweep.curves[c][lo:hi] for c in CURVES], axis=1),
                                np.stack([sweep.finals[m][lo:hi] for m in FINALS], axis=1)],
                               axis=1).reshape(-1)
        times = start + np.repeat(np.arange(lo, hi), per) + np.tile(epoch[:per] * 0.5, k)
        store.write_metrics_part(PROJECT, run_id, ids[lo], 0, {
            "experiment_id": eid, "kind": kind, "epoch": epoch, "step": epoch, "time": times,
            "name": name, "value": value, "source": np.full(len(value), "synthetic", dtype=object)})
    for i, exp_id in enumerate(ids):
        store.append_state(PROJECT, run_id, exp_id, "succeeded", engine_id=f"local:{i}")
    return run_id


def read_hypertuner(root: str) -> StoreFigures:
    from workbench_plugin.index import ProjectIndex, RunView
    from workbench_plugin.store import Store

    index = ProjectIndex(Store(root), PROJECT)
    index.refresh()
    run_id = index.latest_run()
    assert run_id is not None
    exps = RunView(index, run_id).frames().experiments
    exps = exps.sort_values("index") if "index" in exps else exps
    return StoreFigures(
        len(exps), {h: exps[h].astype(float).tolist() for h in HPARAMS},
        {m: exps[m].astype(float).tolist() for m in FINALS},
        {c: exps[c].astype(float).tolist() for c in CURVES})


# ---- Optuna ---------------------------------------------------------------------------------
def optuna_storage(path: str) -> Any:
    """A journal storage on ``path`` (``JournalFileBackend``, ``JournalFileStorage`` before 4.0)."""
    from optuna.storages import JournalStorage

    try:
        from optuna.storages.journal import JournalFileBackend as Backend
    except ImportError:  # optuna < 4.0
        from optuna.storages import JournalFileStorage as Backend
    return JournalStorage(Backend(path))


def _distributions(sweep: Sweep) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return {
        "batch_size": CategoricalDistribution(list(BATCH_SIZES)),
        "lr": FloatDistribution(1e-5, 0.1, log=True),
        "num_epochs": CategoricalDistribution(sorted({int(v) for v in sweep.params["num_epochs"]})),
        "dropout": FloatDistribution(0.0, 0.6),
    }


def write_optuna(sweep: Sweep, path: str, *, chunk: int = 500) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=optuna_storage(path), study_name=STUDY,
                                directions=list(DIRECTIONS))
    with warnings.catch_warnings():  # set_metric_names is "experimental" in optuna 4/5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(FINALS))
    dists = _distributions(sweep)
    trials = []
    for i in range(sweep.n):
        trials.append(optuna.trial.create_trial(
            params=sweep.param_values(i), distributions=dists,
            values=[float(sweep.finals[m][i]) for m in FINALS],
            intermediate_values={s + 1: float(v) for s, v in enumerate(sweep.curves["val_loss"][i])},
            user_attrs={"index": i, "train_loss": [float(v) for v in sweep.curves["train_loss"][i]]}))
        if len(trials) == chunk:
            study.add_trials(trials)
            trials = []
    if trials:
        study.add_trials(trials)


def read_optuna(path: str) -> StoreFigures:
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=optuna_storage(path))
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.user_attrs["index"])
    return StoreFigures(
        len(trials), {h: [float(t.params[h]) for t in trials] for h in HPARAMS},
        {m: [float(t.values[j]) for t in trials] for j, m in enumerate(FINALS)},
        {"train_loss": [float(t.user_attrs["train_loss"][-1]) for t in trials],
         "val_loss": [float(t.intermediate_values[max(t.intermediate_values)]) for t in trials]})


# ---- MLflow ---------------------------------------------------------------------------------
#: MLflow 3.x keeps the file store in maintenance mode and refuses it unless this is set.
MLFLOW_FILE_STORE_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true"}


def mlflow_uri(root: str) -> str:
    import os

    os.environ.update(MLFLOW_FILE_STORE_ENV)  # a peer's switch, set for the bench process only
    return Path(root).resolve().as_uri()


def write_mlflow(sweep: Sweep, root: str) -> str:
    """One MLflow run per sweep run (one ``log_batch`` each); returns the experiment id."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(root))
    exp_id = client.create_experiment("peers")
    now = int(time.time() * 1000)
    for i in range(sweep.n):
        run = client.create_run(exp_id, start_time=now, run_name=f"run-{i}",
                                tags={"index": str(i)})
        rid = run.info.run_id
        metrics = [Metric(c, float(sweep.curves[c][i, s]), now + s, s + 1)
                   for c in CURVES for s in range(sweep.epochs)]
        metrics += [Metric(m, float(sweep.finals[m][i]), now, 0) for m in FINALS]
        params = [Param(k, str(v)) for k, v in sweep.param_values(i).items()]
        client.log_batch(rid, metrics=metrics, params=params, tags=[RunTag("sweep", "peers")])
        client.set_terminated(rid, "FINISHED", end_time=now + 1000)
    return str(exp_id)


def read_mlflow(root: str) -> StoreFigures:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(root))
    exp = client.get_experiment_by_name("peers")
    if exp is None:
        raise LookupError(f"{root}: no MLflow experiment named 'peers'")
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=50_000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    runs.sort(key=lambda r: int(r.data.tags["index"]))
    return StoreFigures(
        len(runs), {h: [float(r.data.params[h]) for r in runs] for h in HPARAMS},
        {m: [float(r.data.metrics[m]) for r in runs] for m in FINALS},
        {c: [float(r.data.metrics[c]) for r in runs] for c in CURVES})
