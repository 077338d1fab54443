"""``bandit-router replay --cascade`` end to end on a small generated dataset with responses."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from api.replay.cascade import parse_cascade
from api.replay.dataset import DatasetError, load_dataset

SPEC = '{"first": ["cheap"], "probe": "probe", "escalate": ["strong"]}'


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps(row) + "\n")
    return path


def _dataset(path: Path, n: int = 500, responses: bool = True, probe_scored: bool = True) -> Path:
    """One task; when the cheap model and the probe disagree (a third of the prompts) the cheap
    answer is wrong, when they agree it is right. The strong model is always right. Without
    ``probe_scored`` the probe's answers score 0 (they are still read as a signal), so the
    strong model is the best single model."""
    rng = np.random.default_rng(5)
    rows: list[dict[str, object]] = []
    for i in range(n):
        agree = bool(rng.random() < 0.67)
        truth = "AB"[int(rng.random() < 0.5)]
        wrong = "B" if truth == "A" else "A"
        answers = {
            "cheap": truth if agree else wrong,
            "probe": truth,
            "strong": f"The answer is {truth}.",
        }
        costs = {"cheap": 0.0002, "probe": 0.0001, "strong": 0.004}
        rows.append(
            {
                "id": f"q{i}",
                "prompt": f"Pick A or B. #{i}",
                "source": "quiz",
                "models": {
                    m: {
                        "quality": float(
                            (answers[m] == truth and (probe_scored or m != "probe"))
                            or m == "strong"
                        ),
                        "cost_usd": costs[m],
                        "latency_s": None,
                        **({"response": answers[m]} if responses else {}),
                    }
                    for m in answers
                },
            }
        )
    return _write(path, rows)


def _replay(dataset: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "replay", str(dataset), "--quiet", *extra],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_cascade_replay_learns_to_escalate_on_disagreement(tmp_path: Path) -> None:
    dataset, out = _dataset(tmp_path / "quiz.jsonl.gz"), tmp_path / "report.json"
    args = ("--cost-weight", "50", "--features", "text,task", "--seed", "1", "--json", str(out))
    completed = _replay(dataset, *args, "--cascade", SPEC)
    assert completed.returncode == 0, completed.stderr
    assert "cascade:" in completed.stdout
    (run,) = json.loads(out.read_text())["runs"]
    cascade = run["cascade"]
    assert cascade["cost_weight"] == 50.0
    assert (cascade["first"], cascade["probe"], cascade["escalate"]) == (
        ["cheap"],
        "probe",
        ["strong"],
    )
    holdout = cascade["holdout"]
    # Escalating a disagreement gains 1.0 for 50 * 0.004 = 0.2; an agreement gains nothing.
    assert holdout["mean_quality"] > 0.97
    assert 0.25 < holdout["escalation_rate"] < 0.42
    assert holdout["first_share"] == {"cheap": 1.0}
    assert set(holdout["escalation_share"]) == {"accept", "strong"}
    assert set(holdout["escalation_rate_by_source"]) == {"quiz"}
    # Every call is paid for: the probe on every prompt, the strong model when escalated.
    expected = 0.0003 + holdout["escalation_rate"] * 0.004
    assert holdout["mean_cost_usd"] == pytest.approx(expected)
    assert cascade["online"]["events"] == run["online"]["events"]  # the same prompts and passes


def test_a_cascade_replay_under_a_budget_spends_it(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "quiz.jsonl.gz", n=1200, probe_scored=False)
    out = tmp_path / "report.json"
    args = ("--budget", "0.3", "--features", "text,task", "--seed", "1", "--json", str(out))
    completed = _replay(dataset, *args, "--cascade", SPEC)
    assert completed.returncode == 0, completed.stderr
    assert "b=0.3" in completed.stdout.split("cascade:")[1]
    (run,) = json.loads(out.read_text())["runs"]
    cascade, budget = run["cascade"], run["cascade"]["budget"]
    # 0.3 of the strong model's 0.004 USD: the cheap model and the probe (0.0003) on every
    # prompt and the strong one on 22.5% of them, two thirds of the disagreements. Online spend
    # includes the controller's early overshoot (it starts at a low cost weight).
    assert budget["usd_per_request"] == pytest.approx(0.0012)
    assert budget["usd_per_request"] == run["budget"]["usd_per_request"]
    assert cascade["online"]["mean_cost_usd"] == pytest.approx(0.0012, rel=0.15)
    assert cascade["holdout"]["mean_cost_usd"] == pytest.approx(0.0012, rel=0.3)
    assert budget["holdout_spend_vs_budget"] == pytest.approx(
        cascade["holdout"]["mean_cost_usd"] / 0.0012
    )
    assert cascade["cost_weight"] == budget["final_cost_weight"] > 0.0
    mixture = budget["holdout_mixture"]
    assert mixture["cost_weight_a"] <= mixture["cost_weight_b"]
    assert 0.0 <= mixture["share_a"] <= 1.0


def test_a_cascade_needs_responses_and_a_valid_spec(tmp_path: Path) -> None:
    bare = _dataset(tmp_path / "bare.jsonl.gz", n=40, responses=False)
    completed = _replay(bare, "--cost-weight", "50", "--features", "text", "--cascade", SPEC)
    assert completed.returncode == 2
    assert "has no response from ['cheap', 'probe']" in completed.stderr
    completed = _replay(bare, "--cascade", '{"first": "cheap", "escalate": "cheap"}')
    assert completed.returncode == 2
    assert "'cheap' is both a first-stage model and an escalation model" in completed.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "must be a JSON object"),
        ("{", "is not JSON"),
        ('{"first": "a"}', "needs both 'first' and 'escalate'"),
        ('{"first": "a", "escalate": "b", "judge": "c"}', r"unknown keys \['judge'\]"),
        ('{"first": 3, "escalate": "b"}', "must be a model id or a list"),
    ],
)
def test_bad_cascade_json_is_refused_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cascade(text)


def test_responses_are_read_and_must_be_text(tmp_path: Path) -> None:
    rows = load_dataset(_dataset(tmp_path / "ok.jsonl.gz", n=3))
    assert set(rows[0].responses) == {"cheap", "probe", "strong"}
    bad: dict[str, object] = {
        "id": "a",
        "prompt": "p",
        "models": {"m": {"quality": 1, "cost_usd": 0, "response": 1}},
    }
    with pytest.raises(DatasetError, match="the response of model 'm' must be text"):
        load_dataset(_write(tmp_path / "bad.jsonl.gz", [bad]))
