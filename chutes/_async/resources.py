"""The OpenAI-compatible helpers on every chute handle (the ``llm`` gateway included).

Each builds its JSON body in the core (``chutes._core.openai``), sends it through the
client's :class:`~chutes._async.caller.AsyncCaller`, and decodes the answer with cattrs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

from .._core.assembly import ChatReader, CompletionReader
from .._core.config import NOT_GIVEN, NotGiven, TimeoutTypes
from .._core.decoding import decode_body
from .._core.models import ChatCompletion, Completion, EmbeddingsResponse, ModelList
from .._core.openai import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    EMBEDDINGS_PATH,
    IMAGES_PATH,
    MODELS_PATH,
    make_body,
)
from .._core.public import export
from .._core.requests import Call, RequestSpec
from .._core.targets import Target
from .._response import Response
from .caller import AsyncCaller
from .images import AsyncImagesResponse, async_images_from_response
from .streams import AsyncChatCompletionStream, AsyncCompletionStream

__all__ = [
    "AsyncChat",
    "AsyncChatCompletions",
    "AsyncCompletions",
    "AsyncEmbeddings",
    "AsyncImages",
    "AsyncModels",
]


class _AsyncResource:
    """A helper namespace: the chute it calls, and the client's caller."""

    __slots__ = ("_caller", "_target")

    def __init__(self, caller: AsyncCaller, target: Target) -> None:
        self._caller = caller
        self._target = target

    def _spec(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | NotGiven,
        extra_headers: Mapping[str, str] | None,
        timeout: TimeoutTypes | NotGiven,
        max_retries: int | NotGiven,
        e2ee: bool | None = None,
    ) -> RequestSpec:
        call = Call(
            json=body, headers=extra_headers, timeout=timeout, max_retries=max_retries, e2ee=e2ee
        )
        return self._caller.spec(self._target, method, path, call)

    async def _decoded(self, spec: RequestSpec, cls: type[Any]) -> Any:
        caller = self._caller

        def decode(response: Response) -> Any:
            result = decode_body(response.content, response.headers, cls)
            caller.tokens(
                spec.target, getattr(result, "usage", None), getattr(result, "model", None)
            )
            return result

        return await caller.call(spec, decode)


class AsyncChatCompletions(_AsyncResource):
    """``POST /v1/chat/completions`` on a chute (or the ``llm`` gateway)."""

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str | NotGiven = ...,
        max_tokens: int | NotGiven | None = ...,
        temperature: float | NotGiven | None = ...,
        top_p: float | NotGiven | None = ...,
        n: int | NotGiven | None = ...,
        stop: str | list[str] | NotGiven | None = ...,
        seed: int | NotGiven | None = ...,
        tools: Iterable[Mapping[str, Any]] | NotGiven = ...,
        tool_choice: str | Mapping[str, Any] | NotGiven = ...,
        response_format: Mapping[str, Any] | NotGiven = ...,
        frequency_penalty: float | NotGiven | None = ...,
        presence_penalty: float | NotGiven | None = ...,
        logprobs: bool | NotGiven | None = ...,
        top_logprobs: int | NotGiven | None = ...,
        user: str | NotGiven = ...,
        stream: Literal[False] = ...,
        stream_options: Mapping[str, Any] | NotGiven | None = ...,
        path: str = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: TimeoutTypes | NotGiven = ...,
        max_retries: int | NotGiven = ...,
        e2ee: bool | None = ...,
        **extra_body: Any,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str | NotGiven = ...,
        max_tokens: int | NotGiven | None = ...,
        temperature: float | NotGiven | None = ...,
        top_p: float | NotGiven | None = ...,
        n: int | NotGiven | None = ...,
        stop: str | list[str] | NotGiven | None = ...,
        seed: int | NotGiven | None = ...,
        tools: Iterable[Mapping[str, Any]] | NotGiven = ...,
        tool_choice: str | Mapping[str, Any] | NotGiven = ...,
        response_format: Mapping[str, Any] | NotGiven = ...,
        frequency_penalty: float | NotGiven | None = ...,
        presence_penalty: float | NotGiven | None = ...,
        logprobs: bool | NotGiven | None = ...,
        top_logprobs: int | NotGiven | None = ...,
        user: str | NotGiven = ...,
        stream: Literal[True],
        stream_options: Mapping[str, Any] | NotGiven | None = ...,
        path: str = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: TimeoutTypes | NotGiven = ...,
        max_retries: int | NotGiven = ...,
        e2ee: bool | None = ...,
        **extra_body: Any,
    ) -> AsyncChatCompletionStream: ...

    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str | NotGiven = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        stop: str | list[str] | NotGiven | None = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        response_format: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        logprobs: bool | NotGiven | None = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: bool = False,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        path: str = CHAT_PATH,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        e2ee: bool | None = None,
        **extra_body: Any,
    ) -> ChatCompletion | AsyncChatCompletionStream:
        """Create a chat completion, or stream one with ``stream=True``.

        Named parameters are OpenAI's; any other keyword (vLLM's ``top_k``, ``min_p``, ...)
        goes into the JSON body as is. A streamed call asks for usage
        (``stream_options={"include_usage": True}``) unless ``stream_options`` is given.
        ``e2ee=True`` sends it end-to-end encrypted (``False``: in the clear, whatever the
        client's ``e2ee=``).

        Returns:
            A :class:`ChatCompletion`; with ``stream=True``, the opened
            :class:`AsyncChatCompletionStream` (use it with ``async with``).

        Raises:
            ConfigurationError: for invalid arguments, before any traffic.
            APIStatusError: when the chute answers an error status.
            DecodeError: when a success body is not a chat completion.
        """
        body = make_body(locals())
        spec = self._spec("POST", path, body, extra_headers, timeout, max_retries, e2ee)
        if stream:
            opened = AsyncChatCompletionStream(self._caller, spec, ChatReader())
            return await opened.__aenter__()
        result: ChatCompletion = await self._decoded(spec, ChatCompletion)
        return result


class AsyncChat:
    """The ``chat`` namespace: ``chat.completions.create(...)``."""

    __slots__ = ("completions",)

    def __init__(self, caller: AsyncCaller, target: Target) -> None:
        self.completions = AsyncChatCompletions(caller, target)


class AsyncCompletions(_AsyncResource):
    """``POST /v1/completions`` (text completions) on a chute or the gateway."""

    @overload
    async def create(
        self,
        *,
        prompt: str | list[str],
        model: str | NotGiven = ...,
        max_tokens: int | NotGiven | None = ...,
        temperature: float | NotGiven | None = ...,
        top_p: float | NotGiven | None = ...,
        n: int | NotGiven | None = ...,
        stop: str | list[str] | NotGiven | None = ...,
        seed: int | NotGiven | None = ...,
        echo: bool | NotGiven | None = ...,
        logprobs: int | NotGiven | None = ...,
        user: str | NotGiven = ...,
        stream: Literal[False] = ...,
        stream_options: Mapping[str, Any] | NotGiven | None = ...,
        path: str = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: TimeoutTypes | NotGiven = ...,
        max_retries: int | NotGiven = ...,
        e2ee: bool | None = ...,
        **extra_body: Any,
    ) -> Completion: ...

    @overload
    async def create(
        self,
        *,
        prompt: str | list[str],
        model: str | NotGiven = ...,
        max_tokens: int | NotGiven | None = ...,
        temperature: float | NotGiven | None = ...,
        top_p: float | NotGiven | None = ...,
        n: int | NotGiven | None = ...,
        stop: str | list[str] | NotGiven | None = ...,
        seed: int | NotGiven | None = ...,
        echo: bool | NotGiven | None = ...,
        logprobs: int | NotGiven | None = ...,
        user: str | NotGiven = ...,
        stream: Literal[True],
        stream_options: Mapping[str, Any] | NotGiven | None = ...,
        path: str = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: TimeoutTypes | NotGiven = ...,
        max_retries: int | NotGiven = ...,
        e2ee: bool | None = ...,
        **extra_body: Any,
    ) -> AsyncCompletionStream: ...

    async def create(
        self,
        *,
        prompt: str | list[str],
        model: str | NotGiven = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        stop: str | list[str] | NotGiven | None = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        echo: bool | NotGiven | None = NOT_GIVEN,
        logprobs: int | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: bool = False,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        path: str = COMPLETIONS_PATH,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        e2ee: bool | None = None,
        **extra_body: Any,
    ) -> Completion | AsyncCompletionStream:
        """Create a text completion, or stream one with ``stream=True``; ``e2ee=`` as for
        chat completions.

        Returns:
            A :class:`Completion`; with ``stream=True``, the opened
            :class:`AsyncCompletionStream` (use it with ``async with``).

        Raises:
            ConfigurationError: for invalid arguments, before any traffic.
            APIStatusError: when the chute answers an error status.
            DecodeError: when a success body is not a completion.
        """
        body = make_body(locals())
        spec = self._spec("POST", path, body, extra_headers, timeout, max_retries, e2ee)
        if stream:
            opened = AsyncCompletionStream(self._caller, spec, CompletionReader())
            return await opened.__aenter__()
        result: Completion = await self._decoded(spec, Completion)
        return result


class AsyncEmbeddings(_AsyncResource):
    """``POST /v1/embeddings`` on an embedding chute."""

    async def create(
        self,
        *,
        input: str | list[str] | list[int] | list[list[int]],
        model: str | NotGiven = NOT_GIVEN,
        encoding_format: Literal["float", "base64"] | NotGiven = NOT_GIVEN,
        dimensions: int | NotGiven = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        path: str = EMBEDDINGS_PATH,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        **extra_body: Any,
    ) -> EmbeddingsResponse:
        """Embed ``input``; each vector is in ``.data[i].embedding``.

        Raises:
            ConfigurationError: for invalid arguments, before any traffic.
            APIStatusError: when the chute answers an error status.
            DecodeError: when a success body is not an embeddings response.
        """
        body = make_body(locals())
        spec = self._spec("POST", path, body, extra_headers, timeout, max_retries)
        result: EmbeddingsResponse = await self._decoded(spec, EmbeddingsResponse)
        return result


class AsyncImages(_AsyncResource):
    """Image generation: OpenAI's ``/v1/images/generations`` or a diffusion cord."""

    async def generate(
        self,
        *,
        prompt: str,
        model: str | NotGiven = NOT_GIVEN,
        n: int | NotGiven = NOT_GIVEN,
        size: str | NotGiven = NOT_GIVEN,
        response_format: Literal["b64_json", "url"] | NotGiven = NOT_GIVEN,
        width: int | NotGiven = NOT_GIVEN,
        height: int | NotGiven = NOT_GIVEN,
        num_inference_steps: int | NotGiven = NOT_GIVEN,
        guidance_scale: float | NotGiven = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        negative_prompt: str | NotGiven = NOT_GIVEN,
        path: str = IMAGES_PATH,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        **extra_body: Any,
    ) -> AsyncImagesResponse:
        """Generate images; the same :class:`AsyncImagesResponse` for base64, URL or raw bytes
        (``await result.data[0].bytes()``).

        With ``path="/generate"`` (the diffusion template) the body is flat (``prompt``,
        ``width``, ``height``, ``num_inference_steps``, ``guidance_scale``, ``seed``,
        ``negative_prompt``) and the cord answers raw ``image/*`` bytes.

        Raises:
            ConfigurationError: for invalid arguments, before any traffic.
            APIStatusError: when the chute answers an error status.
            DecodeError: when a success body is neither image bytes nor an images response.
        """
        body = make_body(locals())
        caller, target = self._caller, self._target
        spec = self._spec("POST", path, body, extra_headers, timeout, max_retries)

        async def fetch(url: str) -> bytes:
            return await caller.download(target, url)

        def decode(response: Response) -> AsyncImagesResponse:
            return async_images_from_response(
                response.content, response.headers.get("content-type"), fetch
            )

        return await caller.call(spec, decode)


class AsyncModels(_AsyncResource):
    """``GET /v1/models``."""

    async def list(
        self,
        *,
        path: str = MODELS_PATH,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ModelList:
        """The models served; gateway extras (``chute_id``, ``pricing``, ...) are in ``.raw``.

        Raises:
            APIStatusError: when the chute answers an error status.
            DecodeError: when a success body is not a model list.
        """
        spec = self._spec("GET", path, NOT_GIVEN, extra_headers, timeout, max_retries)
        result: ModelList = await self._decoded(spec, ModelList)
        return result


export(__all__, globals())
