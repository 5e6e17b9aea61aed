"""``hypertuner plan/run --propose``: rows from a proposal source go through the same listing and
launch as a grid, and bad input is one line that queues nothing."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from tests.unit.test_cli import run_cli
from workbench_plugin.next_batch import lineage_of
from workbench_plugin.store import Store

#: val_acc peaks at lr = 10**-2.5 (about 0.00316) and falls off quadratically in log10(lr).
SCRIPT = textwrap.dedent(
    """
    import argparse, math
    from workbench_plugin import tracking as ht
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--opt", choices=["adam", "sgd"], default="adam")
    a = ap.parse_args()
    acc = 0.95 - 0.04 * (math.log10(a.lr) + 2.5) ** 2 + 0.001 * math.log2(a.width)
    ht.log(epoch=1, val_loss=1 - acc, loss=1 - acc)
    ht.summary(val_acc=acc)
    """
)


def project(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, script: str,
            *values: str) -> tuple[str, Path]:
    """A project of ``script`` with one finished run of ``values`` (store, project folder)."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "train.py").write_text(script)
    (folder / "hypertuner.toml").write_text(f'[project]\nname = "{name}"\nscript = "train.py"\n')
    store = str(tmp_path / "s")
    Store(store).create_project(name, str(folder))
    code, out, err = run_cli(capsys, "--store", store, "run", "--project", str(folder), *values)
    assert code == 0, out + err
    return store, folder


@pytest.fixture
def tuned(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[str, Path]:
    """A project whose first run tried lr = 1e-4, 1e-3, 1e-2, 1e-1 (store, project folder)."""
    return project(capsys, tmp_path, "quad", SCRIPT, "lr=1e-4..1e-1 log 4")


def plan_json(capsys: pytest.CaptureFixture[str], store: str, folder: Path, *argv: str) -> list[dict]:
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_fit_proposes_values_around_the_optimum_with_their_reasons(capsys: pytest.CaptureFixture[str],
                                                                   tuned: tuple[str, Path]) -> None:
    store, folder = tuned
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--from-locks",
                             "--propose", "fit", "--n", "4")
    assert code == 0, err
    assert "proposed by fit:" in out and "quadratic" in out
    rows = plan_json(capsys, store, folder, "--from-locks", "--propose", "fit", "--n", "4")
    values = sorted(r["params"]["lr"] for r in rows)
    assert 1 <= len(values) <= 4 and all(1e-4 <= v <= 1e-1 for v in values)
    optimum = 10 ** -2.5
    assert min(values) <= optimum * 1.5 and max(values) >= optimum / 1.5  # around the optimum, not at an end
    assert all(r["proposal_reason"] for r in rows)
    assert any("quadratic" in r["proposal_reason"] for r in rows)
    assert all(f"--lr {r['params']['lr']}" in r["command"] or "--lr" in r["command"] for r in rows)


def test_a_family_and_a_drawn_line_choose_the_fit(capsys: pytest.CaptureFixture[str],
                                                  tuned: tuple[str, Path]) -> None:
    store, folder = tuned
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--from-locks",
                             "--propose", "fit", "--n", "3", "--family", "lr=linear")
    assert code == 0, err and "linear" in out
    # a parabola drawn over the points picks the quadratic family
    line = ";".join(f"{10 ** t!r},{0.95 - 0.04 * (t + 2.5) ** 2!r}" for t in (-4, -3.5, -3, -2.5, -2, -1.5, -1))
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--from-locks",
                             "--propose", "fit", "--line", f"lr={line}")
    assert code == 0, err
    assert "a drawn line picked quadratic" in out


@pytest.mark.parametrize("source", ["random", "lhs", "sobol", "tpe", "gp"])
def test_search_sources_stay_inside_the_ranges_and_keep_locks(capsys: pytest.CaptureFixture[str],
                                                              tuned: tuple[str, Path], source: str) -> None:
    store, folder = tuned
    rows = plan_json(capsys, store, folder, "lr=1e-4..1e-1 log 4", "width=16..256 *2", "opt=sgd",
                     "--propose", source, "--n", "5", "--seed", "3")
    assert len(rows) == 5
    for r in rows:
        p = r["params"]
        assert 1e-4 <= p["lr"] <= 1e-1 and p["opt"] == "sgd"
        assert isinstance(p["width"], int) and 16 <= p["width"] <= 256 and math.log2(p["width"]).is_integer()
        assert r["proposal_reason"] and "score" in r  # still priced and scored like any listing row
    assert rows == plan_json(capsys, store, folder, "lr=1e-4..1e-1 log 4", "width=16..256 *2", "opt=sgd",
                             "--propose", source, "--n", "5", "--seed", "3")  # a seed repeats


def test_run_queues_the_proposed_rows_and_records_the_proposal(capsys: pytest.CaptureFixture[str],
                                                               tuned: tuple[str, Path]) -> None:
    store, folder = tuned
    planned = plan_json(capsys, store, folder, "lr=1e-4..1e-1 log 4", "--propose", "sobol", "--n", "3")
    first = Store(store).runs("quad")
    code, out, err = run_cli(capsys, "--store", store, "run", "--project", str(folder), "lr=1e-4..1e-1 log 4",
                             "--propose", "sobol", "--n", "3")
    assert code == 0, out + err
    (new_id,) = set(Store(store).runs("quad")) - set(first)
    experiments = Store(store).read_experiments("quad", new_id)
    assert [e.params for e in experiments] == [r["params"] for r in planned]
    run = Store(store).read_run("quad", new_id)
    assert run.extra["lineage"]["proposal"]["source"] == "sobol" and run.extra["lineage"]["proposal"]["basis"]
    assert lineage_of(run) is not None


def test_a_budget_lowers_the_number_of_rows(capsys: pytest.CaptureFixture[str], tuned: tuple[str, Path]) -> None:
    store, folder = tuned
    rows = plan_json(capsys, store, folder, "lr=1e-4..1e-1 log 4", "--propose", "random", "--n", "6",
                     "--max-experiments", "2")
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--propose", "grid"], "--propose: 'grid' is not a proposal source; use one of fit, random"),
        (["--propose", "random", "--n", "0"], "--n: '0' is not allowed; give a whole number from 1 to 1,000"),
        (["--n", "3"], "--n: only with --propose SOURCE"),
        (["--propose", "fit", "--family", "lr=cubic"], "--family: 'cubic' for lr is not a family"),
        (["--propose", "fit", "--family", "depth=linear"], "--family: depth is not a hyperparameter of the batch"),
        (["--propose", "random", "--family", "lr=linear"], "--family: only with --propose fit"),
        (["--propose", "fit", "--line", "lr=1,2;x,4"], "--line lr"),
        (["--propose", "fit", "--circle", "lr"], "--circle: 'lr' is not NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_queues_nothing(capsys: pytest.CaptureFixture[str], tuned: tuple[str, Path],
                                                  argv: list[str], needle: str) -> None:
    store, folder = tuned
    before = Store(store).runs("quad")
    for command in ("plan", "run"):
        code, out, err = run_cli(capsys, "--store", store, command, "--project", str(folder), "lr=1e-4..1e-1 log 4",
                                 *argv)
        assert code == 2, out
        assert needle in err and len(err.strip().splitlines()) == 1, err
    assert Store(store).runs("quad") == before


def test_a_flag_never_varied_is_spread_over_its_range_and_says_so(capsys: pytest.CaptureFixture[str],
                                                                 tuned: tuple[str, Path]) -> None:
    store, folder = tuned
    # width ran only at its default 64: nothing to fit, so its values come from its range
    rows = plan_json(capsys, store, folder, "lr=0.001", "width=16..256 *2", "--propose", "fit", "--n", "4")
    assert rows and all(r["params"]["lr"] == 0.001 for r in rows)
    assert all("every finished experiment ran it at 64" in r["proposal_reason"] for r in rows)


def test_too_few_experiments_for_any_fit_is_one_line_and_no_rows(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    store, folder = project(capsys, tmp_path, "quad", SCRIPT, "lr=1e-4,1e-1")
    for command in ("plan", "run"):
        code, out, err = run_cli(capsys, "--store", store, command, "--project", str(folder),
                                 "lr=1e-4..1e-1 log 4", "--propose", "fit")
        assert code == 2, out
        assert err.startswith("hypertuner: error: ") and "lr" in err and len(err.strip().splitlines()) == 1, err
    assert len(Store(store).runs("quad")) == 1


def test_proposals_warn_where_experiments_diverged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import argparse
        from workbench_plugin import tracking as ht
        ap = argparse.ArgumentParser()
        ap.add_argument("--lr", type=float, default=0.01)
        a = ap.parse_args()
        for epoch in range(1, 6):
            loss = float("nan") if a.lr >= 0.05 and epoch > 2 else 1.0 / (epoch * (1 + a.lr))
            ht.log(epoch=epoch, loss=loss, val_loss=loss)
        ht.summary(val_acc=0.9 - a.lr)
        """)
    store, folder = project(capsys, tmp_path, "div", script, "lr=0.001,0.01,0.1,0.3")
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "lr=1e-4..0.3 log 5",
                             "--propose", "random", "--n", "6")
    assert code == 0, err
    assert "avoid: 2 of 2 experiments with lr >= 0.1 diverged" in out


def test_an_added_flag_left_to_the_proposal_gets_values_from_its_type_and_default(
        capsys: pytest.CaptureFixture[str], tuned: tuple[str, Path]) -> None:
    store, folder = tuned
    rows = plan_json(capsys, store, folder, "--from-locks", "--add", "width=?", "--propose", "fit", "--n", "8")
    widths = sorted({r["params"]["width"] for r in rows})
    # an int flag with default 64: multiplicative around it, ints on powers of two
    assert len(widths) >= 3 and all(isinstance(w, int) and 16 <= w <= 256 and math.log2(w).is_integer()
                                    for w in widths)
    assert all("no history for width" in r["proposal_reason"] for r in rows)
    assert all("--width" in r["command"] for r in rows)
    for argv, needle in ((["--add", "width=?"], "--add: 'width=?' leaves the values to a proposal"),
                         (["--add", "depth=?", "--propose", "fit"], "--add: depth=? needs the flag's type")):
        code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "--from-locks", *argv)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_a_metric_that_is_never_a_number_is_one_line_and_no_rows(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import argparse
        from workbench_plugin import tracking as ht
        ap = argparse.ArgumentParser()
        ap.add_argument("--lr", type=float, default=0.01)
        ap.parse_args()
        ht.summary(val_acc=float("nan"))
        """)
    store, folder = project(capsys, tmp_path, "nan", script, "lr=0.001,0.01,0.1")
    code, out, err = run_cli(capsys, "--store", store, "plan", "--project", str(folder), "lr=1e-4..0.3 log 5",
                             "--propose", "fit")
    assert code == 2, out
    assert "no finished experiment has a value, so there is nothing to fit" in err, err
    assert len(err.strip().splitlines()) == 1, err
