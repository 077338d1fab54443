"""The Vowpal Wabbit policy: ``--cb_explore_adf`` with one action line per candidate model.

This is the only module that imports ``vowpalwabbit`` and the only place where a reward becomes
a VW cost (``cost = -reward``). A ``Workspace`` is not thread-safe: one owner, no threads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from typing import Any

import vowpalwabbit

from bandit.pmf import normalise, with_floor
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace, Pmf

__all__ = ["VowpalPolicy", "render_example", "vw_arguments", "vw_cost"]


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
    args = [
        "--cb_explore_adf",
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
    """Rendered text by object identity, for contexts and arm sets seen again.

    Replays and a decision's predict-then-learn present the very same objects repeatedly, and
    formatting hundreds of dense features dominates the cost of a VW call. The cache holds a
    reference to each key object, so an id cannot be reused while its entry lives.
    """

    def __init__(self, capacity: int = 65536) -> None:
        self._capacity = capacity
        self._entries: dict[int, tuple[object, str]] = {}

    def get(self, key: tuple[Namespace, ...]) -> str:
        entry = self._entries.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        text = _render_namespaces(key)
        if len(self._entries) >= self._capacity:
            self._entries.clear()  # simple and bounded; a miss only costs a re-render
        self._entries[id(key)] = (key, text)
        return text


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
    render = _render_namespaces if cache is None else cache.get
    lines = ["shared " + render(context.namespaces)]
    for index, arm in enumerate(arms):
        prefix = ""
        if label is not None and label[0] == index:
            # float() first: repr(np.float64(x)) is "np.float64(x)", which VW reads as 0.
            prefix = f"0:{float(label[1])!r}:{float(label[2])!r} "
        # A bare "|" keeps a featureless arm from rendering as the empty line that ends a
        # multiline example.
        lines.append(prefix + (render(arm.namespaces) or "|"))
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
        self._cache = _RenderCache()
        # The parsed examples of the last prediction. When the next call learns that very
        # decision (same context and arms objects, as in a replay), VW learns from them with
        # the label set instead of parsing the text again.
        self._last: tuple[Context, tuple[Arm, ...], list[Any]] | None = None

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        self._release_last()
        examples = self._workspace.parse(render_example(context, arms, cache=self._cache))
        scores = self._workspace.predict(examples)
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
            examples[interaction.chosen + 1].set_label_string(
                f"0:{vw_cost(interaction.reward)!r}:{label_probability!r}"
            )
            self._workspace.learn(examples)
            self._workspace.finish_example(examples)
            return
        self._release_last()
        label = (interaction.chosen, vw_cost(interaction.reward), label_probability)
        self._workspace.learn(
            render_example(interaction.context, interaction.arms, label, self._cache)
        )

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
            self._workspace.finish_example(self._last[2])
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
