"""chutes-client: call chutes (AI apps on chutes.ai) from notebooks, web backends and scripts.

``chutes.Client`` blocks and never touches asyncio; ``chutes.AsyncClient`` is its asyncio
twin. Both address chutes by name, slug, id or URL, retry what is safe to retry, and raise
the typed errors below.
"""

from ._async_client import AsyncChute, AsyncClient, AsyncEventStream
from ._client import Chute, Client, EventStream
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
from ._core.models import Quota
from ._core.sse import ServerSentEvent
from ._core.targets import slugify
from ._core.usage import ChuteUsage, UsageSnapshot
from ._response import Response
from ._version import __version__

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChute",
    "AsyncClient",
    "AsyncEventStream",
    "AuthenticationError",
    "BadRequestError",
    "Chute",
    "ChuteUsage",
    "ChutesError",
    "Client",
    "ConfigurationError",
    "ConnectionFailure",
    "DecodeError",
    "EventStream",
    "InternalServerError",
    "NotFoundError",
    "NotGiven",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "Quota",
    "RateLimitError",
    "Response",
    "RetryPolicy",
    "ServerSentEvent",
    "ServiceUnavailableError",
    "StreamError",
    "Timeout",
    "UnprocessableEntityError",
    "UsageSnapshot",
    "__version__",
    "slugify",
]
