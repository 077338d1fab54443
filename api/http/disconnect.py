"""Abandon a request's work when its client goes away.

A handler's coroutine is not cancelled when the connection closes: the ASGI server only tells
the application through ``receive()``, which answers ``http.disconnect``. A heavy report whose
caller gave up would otherwise run to the end and hold one of the few report slots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from litestar.exceptions import HTTPException
from litestar.types import Receive

__all__ = ["ClientDisconnected", "unless_disconnected"]

T = TypeVar("T")

#: Nobody reads the answer; nginx's "client closed request" names what happened in the log.
CLIENT_CLOSED_REQUEST = 499


class ClientDisconnected(HTTPException):
    status_code = CLIENT_CLOSED_REQUEST


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise
    :class:`ClientDisconnected`.

    Only for requests whose body has been read (or that have none): the watcher consumes the
    ``receive`` channel.
    """
    job = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not job.done():
            job.cancel()
        watcher.cancel()
    if not job.done() or job.cancelled():
        # Let the cancelled job finish its cleanup (a child process is terminated) first.
        await asyncio.gather(job, return_exceptions=True)
        raise ClientDisconnected(detail="The client disconnected before the report was ready.")
    return job.result()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
