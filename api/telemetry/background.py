"""A round of work every few seconds beside routing, that a failing Langfuse cannot stop."""

from __future__ import annotations

import asyncio

__all__ = ["BackgroundLoop"]


class BackgroundLoop:
    """Runs ``_round`` every ``seconds`` on its own asyncio task, from ``start`` to ``close``.

    A round that raises goes to ``_round_failed`` (count it, keep its sentence for the status)
    and the next round runs on time; one that succeeds goes to ``_round_succeeded``.
    """

    #: The asyncio task's name, for stack dumps.
    task_name = "background-loop"

    def __init__(self, *, seconds: float) -> None:
        self._seconds = seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self._round()
            except Exception as error:  # Langfuse down: try again next time, say so in status
                self._round_failed(f"{type(error).__name__}: {error}")
            else:
                self._round_succeeded()
            await asyncio.sleep(self._seconds)

    async def _round(self) -> None:
        raise NotImplementedError

    def _round_failed(self, error: str) -> None:
        raise NotImplementedError

    def _round_succeeded(self) -> None:
        """Nothing by default."""
