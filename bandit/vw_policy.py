"""The Vowpal Wabbit policy: ``--cb_explore_adf`` with one action line per candidate model.

This is the only module that imports ``vowpalwabbit`` and the only place where a reward becomes
a VW cost (``cost = -reward``). A ``Workspace`` is not thread-safe: one owner, no threads.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterable
from typing import Any

import pylibvw  # the extension module under vowpalwabbit, called directly on the hot path
import vowpalwabbit

from bandit.pmf import normalise, with_floor
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace, Pmf

__all__ = [
    "VowpalPolicy",
    "VowpalRegressor",
    "regressor_arguments",
    "render_example",
    "vw_arguments",
    "vw_cost",
]


def vw_cost(reward: float) -> float:
    """VW minimises cost; the router maximises reward. The one place the sign flips."""
    return -float(reward)


def vw_arguments(
    settings: ExplorationSettings, interactions: Iterable[tuple[str, str]]
) -> list[str]:
    """The VW command line for ``settings``; ``interactions`` pairs context and arm namespaces.

    VW keys interactions on the first letter of a namespace name, which is why context
    namespaces are lower case and arm namespaces upper case.
    """
    args = ["--cb_explore_adf", *_learning_options(settings)]
    if settings.algorithm == "squarecb":
        args += [
            "--squarecb",
            "--gamma_scale",
            repr(settings.gamma_scale),
            "--gamma_exponent",
            repr(settings.gamma_exponent),
        ]
    elif settings.algorithm == "epsilon":
        args += ["--epsilon", repr(settings.epsilon)]
    else:
        raise ValueError(f"Algorithm {settings.algorithm!r} is not a Vowpal Wabbit algorithm.")
    for letters in sorted({(c[0] + a[0]) for c, a in interactions}):
        args += ["--interactions", letters]
    return args


def _learning_options(settings: ExplorationSettings) -> list[str]:
    """What every VW workspace here shares: quiet, resumable, seeded, sized and paced."""
    return [
        "--quiet",
        "--save_resume",
        "--random_seed",
        str(settings.seed),
        "-b",
        str(settings.bits),
        "-l",
        repr(settings.learning_rate),
        "--power_t",
        repr(settings.learning_rate_decay),
    ]


def regressor_arguments(
    settings: ExplorationSettings, interactions: Iterable[tuple[str, str]]
) -> list[str]:
    """The VW command line of a reward regressor: ``--cb_adf`` with ``settings``' learning
    options and no exploration of its own (a budgeted policy explores over its scores)."""
    args = ["--cb_adf", *_learning_options(settings)]
    pairs = list(interactions)
    for letters in sorted({(c[0] + a[0]) for c, a in pairs}):
        args += ["--interactions", letters]
    # One model per arm: no weight is shared between arms (no constant, no linear context
    # terms), so learning one arm's reward never moves another's estimate. A shared term
    # follows whichever arm is chosen most; under a moving cost weight that dragged the
    # estimates of the arms chosen less and the spend swung for thousands of decisions.
    args.append("--noconstant")
    for letter in sorted({c[0] for c, _ in pairs}):
        args += ["--ignore_linear", letter]
    return args


def _render_namespaces(namespaces: tuple[Namespace, ...]) -> str:
    parts: list[str] = []
    for namespace in namespaces:
        features = " ".join(
            name if value == 1.0 else f"{name}:{float(value)!r}"
            for name, value in namespace.features
        )
        parts.append(f"|{namespace.name} {features}")
    return " ".join(parts)


class _RenderCache:
    """Rendered text of the contexts and arms still alive, by object identity.

    Replays present the very same context objects on every pass and for every cost weight, and
    formatting hundreds of dense features dominates the cost of a VW call. Entries hold only
    weak references and leave with their object, so a server, whose contexts live for one
    request, keeps no more than it is currently routing.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Context | Arm], str]] = {}

    def get(self, owner: Context | Arm) -> str:
        key = id(owner)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is owner:
            return entry[1]
        text = _render_namespaces(owner.namespaces)
        # The callback runs when ``owner`` is freed, before its id can be given to another
        # object, so it never removes a newer entry.
        self._entries[key] = (weakref.ref(owner, lambda _: self._entries.pop(key, None)), text)
        return text

    def __len__(self) -> int:
        return len(self._entries)


#: One cache for every policy in the process: the replay's policies (one per cost weight) see
#: the same contexts.
_RENDERED = _RenderCache()


def render_example(
    context: Context,
    arms: tuple[Arm, ...],
    label: tuple[int, float, float] | None = None,
    cache: _RenderCache | None = None,
) -> list[str]:
    """VW multiline text: a ``shared`` line for the context, one line per arm.

    ``label`` is ``(chosen index, cost, probability)``. Names were validated by the domain
    types, so no user string can add a feature or namespace here.
    """
    return ["shared " + _render(context, cache), *_arm_lines(arms, label, cache)]


def _render(owner: Context | Arm, cache: _RenderCache | None) -> str:
    return _render_namespaces(owner.namespaces) if cache is None else cache.get(owner)


def _arm_lines(
    arms: tuple[Arm, ...],
    label: tuple[int, float, float] | None = None,
    cache: _RenderCache | None = None,
) -> list[str]:
    lines = []
    for index, arm in enumerate(arms):
        prefix = ""
        if label is not None and label[0] == index:
            # float() first: repr(np.float64(x)) is "np.float64(x)", which VW reads as 0.
            prefix = f"0:{float(label[1])!r}:{float(label[2])!r} "
        # A bare "|" keeps a featureless arm from rendering as the empty line that ends a
        # multiline example.
        lines.append(prefix + (_render(arm, cache) or "|"))
    return lines


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
        self._cache = _RENDERED
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
            self._arms_text = (arms, "\n".join(_arm_lines(arms, cache=self._cache)))
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
        return float(interaction.probability)

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
        self._cache = _RENDERED
        self._arms_text: tuple[tuple[Arm, ...], str] | None = None
        self._label_type = self._workspace.get_label_type().value
        self._last: tuple[Context, tuple[Arm, ...], list[Any]] | None = None

    def predict_rewards(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]:
        self._release_last()
        if self._arms_text is None or self._arms_text[0] is not arms:
            self._arms_text = (arms, "\n".join(_arm_lines(arms, cache=self._cache)))
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
