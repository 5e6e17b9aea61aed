"""The project's finished experiments as :class:`~workbench_plugin.proposals.Observation` rows.

An observation is a succeeded experiment with a finite value of the metric, with every
hyperparameter it ran with: the values its run passed, and the script's default for each flag it did
not pass, so that an experiment from before a flag was tuned counts at the flag's default (the value
it really ran with) rather than being dropped or guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from workbench_plugin.flags import FlagSet, flag_key
from workbench_plugin.proposals._types import Observation
from workbench_plugin.space import Value

if TYPE_CHECKING:
    from workbench_plugin.frames import RunFrames

__all__ = ["flag_default_values", "observations", "param_value"]


def _plain(value: Any) -> Value | None:
    """A frame cell as a parameter value; None for a missing one (NaN where a run lacked the flag)."""
    if hasattr(value, "item"):
        value = value.item()  # numpy scalars
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, int | float | str) else None


def param_value(params: Mapping[str, Value], name: str) -> Value | None:
    """The value of flag ``name`` in ``params`` under either spelling (``learning-rate`` finds
    ``learning_rate``), None when absent."""
    if name in params:
        return params[name]
    key = flag_key(name)
    return next((v for k, v in params.items() if flag_key(k) == key), None)


def flag_default_values(flags: FlagSet | None) -> dict[str, Value]:
    """The script's known defaults of its value-taking flags, by name as a spec writes it (``learning-rate``):
    ints, floats (finite) and strings; switches, positionals, lists and unknown defaults are left out."""
    if flags is None or not flags.known:
        return {}
    out: dict[str, Value] = {}
    for flag in flags.flags:
        if flag.positional or flag.is_switch or not flag.default_known or flag.nargs is not None:
            continue
        default = flag.default
        if isinstance(default, bool) or not isinstance(default, int | float | str):
            continue
        if isinstance(default, float) and not math.isfinite(default):
            continue
        name = flag.name.lstrip("-") or flag.dest
        if name and name not in ("help", "h"):
            out.setdefault(name, default)
    return out


def observations(frames: Iterable[RunFrames], metric: str, *,
                 defaults: Mapping[str, Value] | None = None) -> list[Observation]:
    """The succeeded experiments of these runs with a finite ``metric`` (a column of the experiments frame),
    params keyed by flag and completed with ``defaults`` for flags a run did not pass."""
    rows: list[Observation] = []
    for run in frames:
        df = run.experiments
        if metric not in df.columns or "state" not in df.columns or "experiment_id" not in df.columns:
            continue
        for record in df[df["state"] == "succeeded"].to_dict("records"):
            value = _plain(record[metric])
            if not isinstance(value, int | float) or not math.isfinite(value):
                continue
            params: dict[str, Value] = {}
            for column in run.hparams:
                if column in record and (v := _plain(record[column])) is not None:
                    params[run.flag_of(column)] = v
            keys = {flag_key(k) for k in params}
            for name, default in (defaults or {}).items():
                if flag_key(name) not in keys:
                    params[name] = default
                    keys.add(flag_key(name))
            rows.append(Observation(str(record["experiment_id"]), run.run_id, params, float(value)))
    return rows


def experiment_settings(frames: Iterable[RunFrames], *,
                        defaults: Mapping[str, Value] | None = None) -> dict[str, dict[str, Value]]:
    """Every experiment's hyperparameters (any state: running, failed and diverged ones too), keyed by
    experiment id, completed with ``defaults`` like :func:`observations`: what health warnings group by."""
    out: dict[str, dict[str, Value]] = {}
    for run in frames:
        df = run.experiments
        if "experiment_id" not in df.columns:
            continue
        columns = [c for c in run.hparams if c in df.columns]
        for record in df[["experiment_id", *columns]].to_dict("records"):
            params: dict[str, Value] = {}
            for column in columns:
                if (v := _plain(record[column])) is not None:
                    params[run.flag_of(column)] = v
            keys = {flag_key(k) for k in params}
            for name, default in (defaults or {}).items():
                if flag_key(name) not in keys:
                    params[name] = default
                    keys.add(flag_key(name))
            out[str(record["experiment_id"])] = params
    return out
