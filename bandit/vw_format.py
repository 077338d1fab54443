"""Vowpal Wabbit's text format and command line, as pure functions: no ``vowpalwabbit`` import.

With ``bandit.vw_policy`` (the workspace) this is the VW adapter: the only place where a reward
becomes a VW cost (``cost = -reward``). Kept apart so that code which only writes VW's format
(the DSJSON export) never loads the extension.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Namespace

__all__ = [
    "RENDERED",
    "RenderCache",
    "arm_lines",
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


class RenderCache:
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
RENDERED = RenderCache()


def render_example(
    context: Context,
    arms: tuple[Arm, ...],
    label: tuple[int, float, float] | None = None,
    cache: RenderCache | None = None,
) -> list[str]:
    """VW multiline text: a ``shared`` line for the context, one line per arm.

    ``label`` is ``(chosen index, cost, probability)``. Names were validated by the domain
    types, so no user string can add a feature or namespace here.
    """
    return ["shared " + _render(context, cache), *arm_lines(arms, label, cache)]


def _render(owner: Context | Arm, cache: RenderCache | None) -> str:
    return _render_namespaces(owner.namespaces) if cache is None else cache.get(owner)


def arm_lines(
    arms: tuple[Arm, ...],
    label: tuple[int, float, float] | None = None,
    cache: RenderCache | None = None,
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
