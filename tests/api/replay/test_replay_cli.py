"""``bandit-router replay`` end to end on a small generated dataset, and dataset validation."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from api.replay.dataset import DatasetError, load_dataset

MODELS = {"small": 0.0002, "large": 0.004}


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row) + "\n")
    return path


def _dataset(path: Path, n: int = 400, seed: int = 0) -> Path:
    """The large model is right on 'hard' prompts, both are right on 'easy' ones."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        hard = bool(rng.random() < 0.5)
        rows.append(
            {
                "id": f"q{i}",
                "prompt": ("Prove the theorem about primes." if hard else "Say hello.") + f" #{i}",
                "source": "hard" if hard else "easy",
                "models": {
                    "small": {
                        "quality": 0.0 if hard else 1.0,
                        "cost_usd": MODELS["small"],
                        "latency_s": None,
                    },
                    "large": {"quality": 1.0, "cost_usd": MODELS["large"], "latency_s": 1.5},
                },
            }
        )
    return _write(path, rows)


def test_replay_command_reports_the_contract_and_a_plot(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "tiny.jsonl.gz")
    out, png = tmp_path / "report.json", tmp_path / "plot.png"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "replay",
            str(dataset),
            "--cost-weight",
            "0",
            "--cost-weight",
            "100",
            "--passes",
            "4",
            "--holdout",
            "0.25",
            "--seed",
            "4",
            "--features",
            "text,task",
            "--json",
            str(out),
            "--plot",
            str(png),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "events/s" in completed.stdout
    report = json.loads(out.read_text())
    assert {"dataset", "events", "passes", "seed", "holdout_fraction", "runs", "baselines"} <= set(
        report
    )
    assert (report["events"], report["passes"], report["seed"]) == (400, 4, 4)
    assert report["holdout_fraction"] == 0.25
    assert [run["cost_weight"] for run in report["runs"]] == [0.0, 100.0]
    for run in report["runs"]:
        for part in ("online", "holdout"):
            assert {"mean_quality", "mean_cost_usd", "mean_reward"} <= set(run[part])
        assert set(run["holdout"]["model_share"]) == set(MODELS)
    baselines = report["baselines"]
    assert baselines["best_single_model"]["model"] == "large"
    assert baselines["best_single_model"]["mean_quality"] == 1.0
    assert baselines["oracle"]["mean_quality"] == 1.0
    assert set(baselines["per_model"]) == set(MODELS)
    # Quality only: always right means large on hard prompts. At weight 100 the 0.38 cents a
    # prompt that large costs extra are worth 0.38 quality: small on easy prompts, large on hard.
    by_weight = {run["cost_weight"]: run["holdout"] for run in report["runs"]}
    assert by_weight[0.0]["mean_quality"] == 1.0
    assert by_weight[100.0]["mean_quality"] == 1.0
    assert by_weight[100.0]["mean_cost_usd"] < by_weight[0.0]["mean_cost_usd"]
    # The same split, per source: the report says where each task's prompts went.
    assert by_weight[100.0]["model_share_by_source"] == {
        "easy": {"small": 1.0},
        "hard": {"large": 1.0},
    }
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_budget_replay_reports_its_spend_against_the_budget(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "tiny.jsonl.gz", n=600)
    out = tmp_path / "report.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "replay",
            str(dataset),
            "--budget",
            "0.3",
            "--passes",
            "4",
            "--seed",
            "1",
            "--features",
            "text,task",
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "b=0.3" in completed.stdout
    report = json.loads(out.read_text())
    # --budget alone: no cost-weight runs.
    (run,) = report["runs"]
    budget = run["budget"]
    # The reference is the best single model on the training prompts: large, 0.004 a prompt.
    assert budget["reference"] == "large"
    assert budget["cost_share"] == 0.3
    assert budget["usd_per_request"] == pytest.approx(0.3 * MODELS["large"])
    assert run["cost_weight"] == budget["final_cost_weight"] > 0.0
    # 0.0012 a prompt buys large for about half the hard prompts (all of them would cost
    # 0.0021): between the two operating points, where a hard prompt's gain (1.0) is worth
    # large's extra 0.0038 USD, a cost weight of 263. The controller starts at 17 and climbs
    # there within this short run (1,800 events), overspending on the way.
    assert 100.0 < budget["final_cost_weight"] < 1000.0
    assert 0.5 < budget["online_spend_vs_budget"] < 1.6
    assert 0.5 < budget["holdout_spend_vs_budget"] < 1.6
    assert 0.6 < run["holdout"]["mean_quality"] < 1.0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--holdout", "1.5"], "holdout must be between 0 and 1"),
        (["--budget", "0"], "cost_share must be a number above 0"),
    ],
)
def test_replay_command_rejects_bad_options_with_a_sentence(
    tmp_path: Path, option: list[str], message: str
) -> None:
    dataset = _dataset(tmp_path / "tiny.jsonl.gz", n=20)
    completed = subprocess.run(
        [sys.executable, "-m", "api.cli", "replay", str(dataset), *option],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert message in completed.stderr


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"id": "a", "prompt": "p"}], "not a replay row"),
        ([{"id": "a", "prompt": "p", "models": {"m": {"quality": 2, "cost_usd": 0}}}], "outside"),
        (
            [{"id": "a", "prompt": "p", "models": {"m": {"quality": 1, "cost_usd": "x"}}}],
            "must be a number",
        ),
        (
            [
                {"id": "a", "prompt": "p", "models": {"m": {"quality": 1, "cost_usd": 0}}},
                {"id": "b", "prompt": "p", "models": {"n": {"quality": 1, "cost_usd": 0}}},
            ],
            "first row scores",
        ),
        (
            [
                {"id": "a", "prompt": "p", "models": {"m": {"quality": 1, "cost_usd": 0}}},
                {"id": "a", "prompt": "p", "models": {"m": {"quality": 1, "cost_usd": 0}}},
            ],
            "repeats",
        ),
        ([], "no rows"),
    ],
)
def test_bad_datasets_are_refused(
    tmp_path: Path, rows: list[dict[str, object]], message: str
) -> None:
    path = _write(tmp_path / "bad.jsonl.gz", rows)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def test_the_shared_routerbench_subset_loads() -> None:
    path = Path(__file__).parents[4] / "shared/data/routerbench_5shot_subset"
    rows = load_dataset(path / "routerbench_5shot_subset.jsonl.gz")
    assert len(rows) == 3150
    assert len(rows[0].outcomes) == 11


def test_the_help_states_the_cost_weights_a_replay_uses_by_default() -> None:
    from api.replay.runner import ReplayOptions

    completed = subprocess.run(
        [sys.executable, "-m", "api.cli", "replay", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "1000", "PATH": ""},
    )
    weights = " ".join(f"{w:g}" for w in ReplayOptions().cost_weights)
    assert f"(default: {weights})" in completed.stdout
