"""chutes-client: call chutes (AI apps on chutes.ai) from notebooks, web backends and scripts.

``chutes.Client`` blocks and never touches asyncio; ``chutes.AsyncClient`` is its asyncio
twin. Both address chutes by name, slug, id or URL, retry what is safe to retry, raise the
typed errors below, and offer OpenAI-compatible helpers on every chute handle.
"""

from ._async_client import AsyncChute, AsyncClient
from ._async_resources import (
    AsyncChat,
    AsyncChatCompletions,
    AsyncCompletions,
    AsyncEmbeddings,
    AsyncImages,
    AsyncModels,
)
from ._async_streams import AsyncChatCompletionStream, AsyncCompletionStream, AsyncEventStream
from ._client import Chute, Client
from ._core.config import NOT_GIVEN, NotGiven, RetryPolicy, Timeout
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
from ._core.ratelimit import RateLimit
from ._core.sse import ServerSentEvent
from ._core.targets import slugify
from ._core.usage import ChuteUsage, UsageSnapshot
from ._images import Image, ImagesResponse
from ._resources import Chat, ChatCompletions, Completions, Embeddings, Images, Models
from ._response import Response
from ._streams import ChatCompletionStream, CompletionStream, EventStream
from ._version import __version__

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
    "AsyncImages",
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
