"""What truly differs between the blocking and the asyncio code, written once each by hand.

Everything else under ``chutes/_sync/`` is generated from ``chutes/_async/`` by
``scripts/unasync.py``, which turns ``AsyncRuntime`` into ``Runtime``: so the two classes
below have the same members, and the asyncio one is used by the source, the blocking one
by the generated code.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final, TypeVar

import httpx

__all__: list[str] = []

# Tasks started by AsyncRuntime.soon, referenced until they finish (the loop keeps only
# weak references to its tasks).
_BACKGROUND: set[asyncio.Task[Any]] = set()

T = TypeVar("T")
R = TypeVar("R")
_DONE: Final = object()  # a worker's last word


class _Raised:
    """A worker's exception, carried to the consumer to be raised there."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class AsyncRuntime:
    """The asyncio side: sleeping, the event-loop rule, abandoned responses."""

    # Idle connections the pool keeps alive: httpx's own 20 of 100. More costs the asyncio
    # pool dearly (the benchmark's S3, 100 in flight, ran 4 to 7 times slower with 100).
    keepalive: Final = 20

    @staticmethod
    async def sleep(seconds: float) -> None:
        """Wait without blocking the event loop."""
        await asyncio.sleep(seconds)

    @staticmethod
    def bind_loop(holder: Any, what: str) -> bool:
        """Bind ``holder`` (a connection pool) to the running loop; refuse another loop while
        the one it is bound to still runs.

        An httpx pool's connections belong to the loop that opened them: using them from
        another loop fails deep inside the pool, so the client says so plainly instead.
        Once that loop is closed (one ``asyncio.run`` ended, another began) the pool moves
        to the new loop.

        Returns:
            Whether the pool was bound to a loop just now (first use, or moving on).

        Raises:
            RuntimeError: when another loop that is still open owns the pool.
        """
        running = asyncio.get_running_loop()
        bound = holder.loop() if holder.loop is not None else None
        if bound is running:
            return False
        if bound is not None and not bound.is_closed():
            raise RuntimeError(
                f"this {what} was first used in another event loop; its connections "
                f"cannot be shared across loops. Create one {what} per loop (for example "
                "in your app's lifespan)."
            )
        holder.loop = weakref.ref(running)
        return True

    @staticmethod
    def close_with_loop(holder: Any, close: Callable[[], Awaitable[None]]) -> None:
        """Run ``close`` in the running loop when it shuts down.

        A connection's socket can only be closed by the loop that opened it, and
        ``asyncio.run`` closes its loop when it returns: a client used in one
        ``asyncio.run`` and closed in the next could then neither close its sockets nor let
        them go quietly. ``asyncio.run`` cancels the tasks still pending before it closes
        the loop, so a task that waits for that cancellation closes the connections while
        the loop still runs. :meth:`cancel_close_with_loop` drops it once the client closes.
        """

        async def wait_then_close() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await close()

        holder.closer = asyncio.get_running_loop().create_task(wait_then_close())

    @staticmethod
    def cancel_close_with_loop(holder: Any) -> None:
        """Drop the task :meth:`close_with_loop` made (the client closes by itself)."""
        closer = getattr(holder, "closer", None)
        if closer is not None and not closer.done() and not closer.get_loop().is_closed():
            closer.cancel()

    @staticmethod
    def soon(work: Callable[[], Coroutine[Any, Any, Any]]) -> bool:
        """Start ``work`` in the background of the running loop (keeping it referenced
        until done); ``False`` when no loop runs here."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task: asyncio.Task[Any] = loop.create_task(work())
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        return True

    @staticmethod
    def loop_gone(holder: Any) -> bool:
        """Whether the loop that opened the pool's connections is closed or collected (its
        sockets can then only be dropped, not closed politely)."""
        bound = holder.loop() if holder.loop is not None else None
        return holder.loop is not None and (bound is None or bound.is_closed())

    @staticmethod
    def abandoned(raw: httpx.Response) -> None:
        """A stream collected while its response is open: an async response cannot be
        closed from a finaliser, so warn, as for an unclosed client."""
        if not raw.is_closed:
            warnings.warn(
                "an async chutes stream was garbage-collected without being closed; use "
                "`async with` or `await stream.aclose()`",
                ResourceWarning,
                stacklevel=2,
            )

    @staticmethod
    async def aclose_iterator(iterator: AsyncIterator[Any] | None) -> None:
        """Finish an async generator now rather than in the loop's finaliser (unless it is
        the one running: it is then finishing by itself)."""
        close = getattr(iterator, "aclose", None)
        if close is not None and not getattr(iterator, "ag_running", False):
            await close()

    @staticmethod
    async def run_blocking(function: Callable[..., R], *args: Any) -> R:
        """Run blocking file work in a thread, so the event loop keeps serving."""
        return await asyncio.to_thread(function, *args)

    @staticmethod
    async def workers(
        count: int,
        work: Callable[[int, Callable[[T], Awaitable[None]]], Awaitable[None]],
        stop: Callable[[], None],
    ) -> AsyncIterator[T]:
        """Run ``work(index, emit)`` in ``count`` tasks and yield what they emit, as they
        emit it, until every one has returned; a worker's exception is raised here.

        Leaving early (closing the iterator, or an exception) calls ``stop()`` and cancels
        the workers, requests in flight included.
        """
        items: asyncio.Queue[Any] = asyncio.Queue(maxsize=count)

        async def one(index: int) -> None:
            try:
                await work(index, items.put)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                await items.put(_Raised(exc))
            else:
                await items.put(_DONE)

        tasks = [asyncio.ensure_future(one(index)) for index in range(count)]
        running = count
        try:
            while running:
                item = await items.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, _Raised):
                    raise item.error
                else:
                    yield item
        finally:
            stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class Runtime:
    """The blocking side: sleeping, no event loop, abandoned responses closed."""

    # Every connection may be kept alive: httpcore's blocking pool can close a surplus
    # keep-alive connection it has just handed to a waiting thread, and that thread's
    # request then hangs until its read timeout (encode/httpcore#1110), which a batch of
    # many threads hits within minutes.
    keepalive: Final = 100

    @staticmethod
    def sleep(seconds: float) -> None:
        """Block the calling thread."""
        time.sleep(seconds)

    @staticmethod
    def bind_loop(holder: Any, what: str) -> bool:
        """Nothing to bind: a blocking client never touches an event loop."""
        return False

    @staticmethod
    def close_with_loop(holder: Any, close: Callable[[], None]) -> None:
        """Nothing to do: no event loop closes under a blocking client."""

    @staticmethod
    def cancel_close_with_loop(holder: Any) -> None:
        """Nothing to do: see :meth:`close_with_loop`."""

    @staticmethod
    def soon(work: Callable[[], Any]) -> bool:
        """Do ``work`` now (a blocking client has no background)."""
        work()
        return True

    @staticmethod
    def loop_gone(holder: Any) -> bool:
        """Never: no event loop owns a blocking client's connections."""
        return False

    @staticmethod
    def abandoned(raw: httpx.Response) -> None:
        """A stream iterated without ``with`` and collected: give its connection back."""
        with contextlib.suppress(Exception):
            raw.close()

    @staticmethod
    def close_iterator(iterator: Iterator[Any] | None) -> None:
        """Finish a generator now (unless it is the one running)."""
        close = getattr(iterator, "close", None)
        if close is not None and not getattr(iterator, "gi_running", False):
            close()

    @staticmethod
    def run_blocking(function: Callable[..., R], *args: Any) -> R:
        """Run blocking file work (here, in the calling thread)."""
        return function(*args)

    @staticmethod
    def workers(
        count: int,
        work: Callable[[int, Callable[[T], None]], None],
        stop: Callable[[], None],
    ) -> Iterator[T]:
        """Run ``work(index, emit)`` in ``count`` threads and yield what they emit, as they
        emit it, until every one has returned; a worker's exception is raised here.

        Leaving early (closing the iterator, or an exception) calls ``stop()``, then waits
        for the workers: a thread cannot be cancelled, so requests in flight finish first
        (what they emit then is dropped).
        """
        items: queue.Queue[Any] = queue.Queue(maxsize=count)
        closed = threading.Event()

        def emit(item: Any) -> None:
            while not closed.is_set():
                with contextlib.suppress(queue.Full):
                    items.put(item, timeout=0.1)
                    return

        def one(index: int) -> None:
            try:
                work(index, emit)
            except BaseException as exc:
                emit(_Raised(exc))
            else:
                emit(_DONE)

        threads = [
            threading.Thread(target=one, args=(index,), name=f"chutes-batch-{index}", daemon=True)
            for index in range(count)
        ]
        for thread in threads:
            thread.start()
        running = count
        try:
            while running:
                item = items.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, _Raised):
                    raise item.error
                else:
                    yield item
        finally:
            closed.set()
            stop()
            for thread in threads:
                thread.join()
