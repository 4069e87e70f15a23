"""chutes-client: call chutes (AI apps on chutes.ai) from notebooks, web backends and scripts.

``chutes.Client`` blocks and never touches asyncio; ``chutes.AsyncClient`` is its asyncio
twin. Both address chutes by name, slug, id or URL, retry what is safe to retry, raise the
typed errors below, and offer OpenAI-compatible helpers on every chute handle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._async_client import (
        AsyncChute,
        AsyncClient,
    )
    from ._async_resources import (
        AsyncChat,
        AsyncChatCompletions,
        AsyncCompletions,
        AsyncEmbeddings,
        AsyncImages,
        AsyncModels,
    )
    from ._async_streams import (
        AsyncChatCompletionStream,
        AsyncCompletionStream,
        AsyncEventStream,
    )
    from ._client import (
        Chute,
        Client,
    )
    from ._core.config import (
        NOT_GIVEN,
        NotGiven,
        RetryPolicy,
        Timeout,
    )
    from ._core.errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ChutesError,
        ConfigurationError,
        ConnectionFailure,
        DecodeError,
        InternalServerError,
        NotFoundError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitError,
        ServiceUnavailableError,
        StreamError,
        UnprocessableEntityError,
    )
    from ._core.models import (
        ChatChoice,
        ChatCompletion,
        ChatCompletionChunk,
        ChatMessage,
        ChoiceDelta,
        ChunkChoice,
        Completion,
        CompletionChoice,
        CompletionTokensDetails,
        Embedding,
        EmbeddingsResponse,
        FunctionCall,
        Model,
        ModelList,
        PromptTokensDetails,
        Quota,
        ToolCall,
        Usage,
    )
    from ._core.ratelimit import (
        RateLimit,
    )
    from ._core.sse import (
        ServerSentEvent,
    )
    from ._core.targets import (
        slugify,
    )
    from ._core.usage import (
        ChuteUsage,
        UsageSnapshot,
    )
    from ._images import (
        AsyncImage,
        AsyncImagesResponse,
        Image,
        ImagesResponse,
    )
    from ._resources import (
        Chat,
        ChatCompletions,
        Completions,
        Embeddings,
        Images,
        Models,
    )
    from ._response import (
        Response,
    )
    from ._streams import (
        ChatCompletionStream,
        CompletionStream,
        EventStream,
    )

# Each public name and the module that defines it: `import chutes` stays cheap, and a
# name's module (httpx included) is imported on first use.
_LAZY: dict[str, str] = {
    "APIConnectionError": "._core.errors",
    "APIStatusError": "._core.errors",
    "APITimeoutError": "._core.errors",
    "AsyncChat": "._async_resources",
    "AsyncChatCompletionStream": "._async_streams",
    "AsyncChatCompletions": "._async_resources",
    "AsyncChute": "._async_client",
    "AsyncClient": "._async_client",
    "AsyncCompletionStream": "._async_streams",
    "AsyncCompletions": "._async_resources",
    "AsyncEmbeddings": "._async_resources",
    "AsyncEventStream": "._async_streams",
    "AsyncImages": "._async_resources",
    "AsyncModels": "._async_resources",
    "AuthenticationError": "._core.errors",
    "BadRequestError": "._core.errors",
    "Chat": "._resources",
    "ChatChoice": "._core.models",
    "ChatCompletion": "._core.models",
    "ChatCompletionChunk": "._core.models",
    "ChatCompletionStream": "._streams",
    "ChatCompletions": "._resources",
    "ChatMessage": "._core.models",
    "ChoiceDelta": "._core.models",
    "ChunkChoice": "._core.models",
    "Chute": "._client",
    "ChuteUsage": "._core.usage",
    "ChutesError": "._core.errors",
    "Client": "._client",
    "Completion": "._core.models",
    "CompletionChoice": "._core.models",
    "CompletionStream": "._streams",
    "CompletionTokensDetails": "._core.models",
    "Completions": "._resources",
    "ConfigurationError": "._core.errors",
    "ConnectionFailure": "._core.errors",
    "DecodeError": "._core.errors",
    "Embedding": "._core.models",
    "Embeddings": "._resources",
    "EmbeddingsResponse": "._core.models",
    "EventStream": "._streams",
    "FunctionCall": "._core.models",
    "Image": "._images",
    "Images": "._resources",
    "ImagesResponse": "._images",
    "AsyncImage": "._images",
    "AsyncImagesResponse": "._images",
    "InternalServerError": "._core.errors",
    "Model": "._core.models",
    "ModelList": "._core.models",
    "Models": "._resources",
    "NOT_GIVEN": "._core.config",
    "NotFoundError": "._core.errors",
    "NotGiven": "._core.config",
    "PaymentRequiredError": "._core.errors",
    "PermissionDeniedError": "._core.errors",
    "PromptTokensDetails": "._core.models",
    "Quota": "._core.models",
    "RateLimit": "._core.ratelimit",
    "RateLimitError": "._core.errors",
    "Response": "._response",
    "RetryPolicy": "._core.config",
    "ServerSentEvent": "._core.sse",
    "ServiceUnavailableError": "._core.errors",
    "StreamError": "._core.errors",
    "Timeout": "._core.config",
    "ToolCall": "._core.models",
    "UnprocessableEntityError": "._core.errors",
    "Usage": "._core.models",
    "UsageSnapshot": "._core.usage",
    "slugify": "._core.targets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chutes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChat",
    "AsyncChatCompletionStream",
    "AsyncChatCompletions",
    "AsyncChute",
    "AsyncClient",
    "AsyncCompletionStream",
    "AsyncCompletions",
    "AsyncEmbeddings",
    "AsyncEventStream",
    "AsyncImage",
    "AsyncImages",
    "AsyncImagesResponse",
    "AsyncModels",
    "AuthenticationError",
    "BadRequestError",
    "Chat",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "ChatCompletions",
    "ChatMessage",
    "ChoiceDelta",
    "ChunkChoice",
    "Chute",
    "ChuteUsage",
    "ChutesError",
    "Client",
    "Completion",
    "CompletionChoice",
    "CompletionStream",
    "CompletionTokensDetails",
    "Completions",
    "ConfigurationError",
    "ConnectionFailure",
    "DecodeError",
    "Embedding",
    "Embeddings",
    "EmbeddingsResponse",
    "EventStream",
    "FunctionCall",
    "Image",
    "Images",
    "ImagesResponse",
    "InternalServerError",
    "Model",
    "ModelList",
    "Models",
    "NotFoundError",
    "NotGiven",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "Quota",
    "RateLimit",
    "RateLimitError",
    "Response",
    "RetryPolicy",
    "ServerSentEvent",
    "ServiceUnavailableError",
    "StreamError",
    "Timeout",
    "ToolCall",
    "UnprocessableEntityError",
    "Usage",
    "UsageSnapshot",
    "__version__",
    "slugify",
]
