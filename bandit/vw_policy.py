"""The Vowpal Wabbit policy: ``--cb_explore_adf`` with one action line per candidate model.

This is the only module that imports ``vowpalwabbit``; the text it feeds the workspace comes
from ``bandit.vw_format``. A ``Workspace`` is not thread-safe: one owner, no threads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from typing import Any

import pylibvw  # the extension module under vowpalwabbit, called directly on the hot path
import vowpalwabbit

from bandit.pmf import normalise, with_floor
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Pmf
from bandit.vw_format import (
    RENDERED,
    arm_lines,
    regressor_arguments,
    render_example,
    vw_arguments,
    vw_cost,
)

__all__ = ["VowpalPolicy", "VowpalRegressor"]


class VowpalPolicy:
    """SquareCB or epsilon-greedy over VW's ``--cb_explore_adf``."""

    def __init__(
        self,
        settings: ExplorationSettings,
        interactions: Iterable[tuple[str, str]],
        *,
        model_bytes: bytes | None = None,
    ) -> None:
        self._settings = settings
        self._arguments = vw_arguments(settings, interactions)
        self._workspace = _open_workspace(self._arguments, model_bytes)
        self._cache = RENDERED
        # The arm lines of the last candidate set: a server and a replay offer the same tuple.
        self._arms_text: tuple[tuple[Arm, ...], str] | None = None
        self._label_type = self._workspace.get_label_type().value
        # The parsed examples of the last prediction. When the next call learns that very
        # decision (same context and arms objects, as in a replay), VW learns from them with
        # the label set instead of parsing the text again.
        self._last: tuple[Context, tuple[Arm, ...], list[Any]] | None = None

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        self._release_last()
        examples = self._parse_text(f"shared {self._cache.get(context)}\n{self._lines_of(arms)}")
        pylibvw.vw.predict_multi(self._workspace, examples)
        scores = examples[0].get_action_scores()
        self._last = (context, arms, examples)
        # VW returns float32 probabilities; renormalise in float64 so the pmf sums to one.
        pmf = normalise([float(p) for p in scores])
        return with_floor(pmf, self._settings.min_probability)

    def learn(self, interaction: Interaction) -> None:
        label_probability = self._label_probability(interaction)
        last = self._last
        if last is not None and last[0] is interaction.context and last[1] is interaction.arms:
            self._last = None
            examples = last[2]
            # examples[0] is the shared line; the arms follow in order.
            pylibvw.example.set_label_string(
                examples[interaction.chosen + 1],
                self._workspace,
                f"0:{vw_cost(interaction.reward)!r}:{label_probability!r}",
                self._label_type,
            )
        else:
            self._release_last()
            label = (interaction.chosen, vw_cost(interaction.reward), label_probability)
            examples = self._parse(
                render_example(interaction.context, interaction.arms, label, self._cache)
            )
        pylibvw.vw.learn_multi(self._workspace, examples)
        pylibvw.vw._finish_example_multi_ex(self._workspace, examples)

    def _lines_of(self, arms: tuple[Arm, ...]) -> str:
        if self._arms_text is None or self._arms_text[0] is not arms:
            self._arms_text = (arms, "\n".join(arm_lines(arms, cache=self._cache)))
        return self._arms_text[1]

    def _parse(self, lines: list[str]) -> list[Any]:
        return self._parse_text("\n".join(lines))

    def _parse_text(self, text: str) -> list[Any]:
        """Native examples for the multiline ``text``, without pyvw's Python wrappers.

        pyvw's ``parse``/``predict``/``learn`` wrap each of the 1 + arms lines in a Python
        ``Example`` and re-check its state on every call. Calling ``pylibvw`` directly, as pyvw
        itself does underneath, is the largest part of a 1.6x replay speed-up (docs/results.md).
        """
        return list(self._workspace._parse(text))

    def _label_probability(self, interaction: Interaction) -> float:
        """The probability VW's label carries, which VW turns into an importance weight 1/p.

        SquareCB's regression oracle learns from each observed reward as it is (Foster and
        Rakhlin, 2020); weighting by 1/p, as VW's MTR does, lets one rare sample of a
        near-tied model swing its estimate, and the greedy choice between such models then
        flipped from run to run (docs/results.md). Epsilon-greedy keeps the weights.
        """
        if self._settings.algorithm == "squarecb":
            return 1.0
        return float(interaction.propensity)

    def _release_last(self) -> None:
        if self._last is not None:
            pylibvw.vw._finish_example_multi_ex(self._workspace, self._last[2])
            self._last = None

    def to_bytes(self) -> bytes:
        self._release_last()
        handle, path = tempfile.mkstemp(suffix=".vw")
        os.close(handle)
        try:
            self._workspace.save(path)
            with open(path, "rb") as file:
                return file.read()
        finally:
            os.unlink(path)

    def close(self) -> None:
        self._release_last()
        self._workspace.finish()


class VowpalRegressor:
    """VW ``--cb_adf``: each arm's predicted reward, learned from the chosen arm's reward.

    The regression oracle of :class:`bandit.budget.BudgetedPolicy`. Like SquareCB's oracle it
    learns each observed reward unweighted (label probability 1, see
    ``VowpalPolicy._label_probability``).
    """

    def __init__(
        self,
        settings: ExplorationSettings,
        interactions: Iterable[tuple[str, str]],
        *,
        model_bytes: bytes | None = None,
    ) -> None:
        self._workspace = _open_workspace(regressor_arguments(settings, interactions), model_bytes)
        self._cache = RENDERED
        self._arms_text: tuple[tuple[Arm, ...], str] | None = None
        self._label_type = self._workspace.get_label_type().value
        self._last: tuple[Context, tuple[Arm, ...], list[Any]] | None = None

    def predict_rewards(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]:
        self._release_last()
        if self._arms_text is None or self._arms_text[0] is not arms:
            self._arms_text = (arms, "\n".join(arm_lines(arms, cache=self._cache)))
        text = f"shared {self._cache.get(context)}\n{self._arms_text[1]}"
        examples = list(self._workspace._parse(text))
        pylibvw.vw.predict_multi(self._workspace, examples)
        # Scores come back in arm order; they are VW costs, so the reward is their negation.
        scores = examples[0].get_action_scores()
        self._last = (context, arms, examples)
        return tuple(-float(score) for score in scores)

    def learn(self, interaction: Interaction) -> None:
        last = self._last
        label = f"0:{vw_cost(interaction.reward)!r}:1.0"
        if last is not None and last[0] is interaction.context and last[1] is interaction.arms:
            self._last = None
            examples = last[2]
            pylibvw.example.set_label_string(
                examples[interaction.chosen + 1], self._workspace, label, self._label_type
            )
        else:
            self._release_last()
            text = render_example(
                interaction.context,
                interaction.arms,
                (interaction.chosen, vw_cost(interaction.reward), 1.0),
                self._cache,
            )
            examples = list(self._workspace._parse("\n".join(text)))
        pylibvw.vw.learn_multi(self._workspace, examples)
        pylibvw.vw._finish_example_multi_ex(self._workspace, examples)

    def _release_last(self) -> None:
        if self._last is not None:
            pylibvw.vw._finish_example_multi_ex(self._workspace, self._last[2])
            self._last = None

    def to_bytes(self) -> bytes:
        self._release_last()
        return _save(self._workspace)

    def close(self) -> None:
        self._release_last()
        self._workspace.finish()


def _save(workspace: vowpalwabbit.Workspace) -> bytes:
    handle, path = tempfile.mkstemp(suffix=".vw")
    os.close(handle)
    try:
        workspace.save(path)
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


def _open_workspace(arguments: list[str], model_bytes: bytes | None) -> vowpalwabbit.Workspace:
    if model_bytes is None:
        return vowpalwabbit.Workspace(arg_list=arguments)
    # The Python binding loads models only from a file.
    handle, path = tempfile.mkstemp(suffix=".vw")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(model_bytes)
        return vowpalwabbit.Workspace(arg_list=[*arguments, "-i", path])
    finally:
        os.unlink(path)
