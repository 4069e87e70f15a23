"""``FakeChutes``: an in-process fake of the chutes platform, as an httpx transport.

It speaks the platform's wire format (API.md and PLATFORM.md): chute subdomains, the
``{api_url}/chutes/<id>`` form, the ``llm``/``embed``/``image`` gateways that route by the
body's ``model``, and any URL; the platform API (chutes, the paged list, warm-up with its
event stream, the account, pricing); ``{"detail": ...}`` errors; SSE streams that end with
``data: [DONE]`` and carry usage; the raw ``{"error": ...}`` line for failures after the
first chunk; raw image bytes from diffusion cords; ``X-Chutes-InvocationID`` and quota
headers. Nothing in the client knows about it: it is only a transport.

Like the platform it is strict: a chute nobody added answers 404 "No matching chute
found!", a model nobody added answers the gateway's 404 "model not found: X".
``FakeChutes(any_chute=True)`` serves every chute name and model instead.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import attrs
import httpx

from .._core.config import _AUTH_HEADERS, DEFAULT_API_URL, DEFAULT_DOMAIN
from .._core.e2ee import CHUTE_ID_HEADER, INSTANCES_PATH, INVOKE_PATH, NONCE_ERROR_DETAIL
from .._core.e2ee import CONTENT_TYPE as E2EE_TYPE
from .._core.errors import ConfigurationError
from .._core.platform import GATEWAY_SLUG, TargetRef, chute_id, parse_target
from .._core.targets import slugify
from . import _platform_api as api
from ._e2ee_instance import NO_INSTANCES as NO_E2EE_INSTANCES
from ._e2ee_instance import E2EERejection, FakeE2EE
from ._platform_api import ChuteRecord
from ._png import make_png

__all__ = ["FakeChutes", "FakeRequest", "Handler", "Reply"]

NO_CHUTE: Final = "No matching chute found!"
NO_CORD: Final = "No matching cord found!"
BAD_KEY: Final = "Invalid or missing API key."
# What the platform answers a valid key whose scopes do not cover the route.
SCOPED_KEY: Final = "Invalid token or user not found"
CAPACITY: Final = "Infrastructure is at maximum capacity, try again later"
DAILY_LIMIT: Final = "Free models limit reached for today, please try again tomorrow."
REDACTED: Final = "***"
# The edge's own 429 page: HTML, not the platform's JSON.
_EDGE_429: Final = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_QUOTA_402: Final = {"message": "Quota exceeded.", "quota_reset_timestamp": "2030-01-01T00:00:00Z"}
_DEFAULT_MESSAGES: Final[Mapping[int, Any]] = {
    400: "Bad request.",
    404: NO_CHUTE,
    500: "Internal server error.",
    502: "Bad gateway.",
    504: "Gateway timeout.",
}
# The kinds fail_next knows, per status; the first is the default.
_FAULT_KINDS: Final[Mapping[int, tuple[str, ...]]] = {
    429: ("capacity", "daily_limit", "rate_limited"),
    402: ("quota", "balance"),
    503: ("cold", "disabled"),
}
_GATEWAYS: Final = frozenset(api.GATEWAY_TEMPLATES)
_SSE_TYPE: Final = "text/event-stream; charset=utf-8"
_INSTANCES_PREFIX: Final = INSTANCES_PATH.partition("{")[0]
_UUID_PATH: Final = re.compile(
    r"/chutes/([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(/.*)?"
)
_ANONYMOUS: Final = "anonymous"
_INVALID: Final = "invalid"
_USER: Final = "user"
_SCOPED: Final = "scoped"


@attrs.frozen
class FakeRequest:
    """What the fake received; the key is replaced by ``***``.

    Attributes:
        method: the HTTP method.
        url: the full URL.
        path: the path relative to the chute (or to the API for platform API calls).
        chute: the chute's base URL (the gateway's for gateway calls, ``api_url`` for API
            calls).
        headers: the request headers, with the key redacted.
        json: the parsed JSON body, or ``None``.
        content: the raw body bytes.
        chute_id: the id of the chute that served it (for the gateway: the model's chute),
            when the fake knows it.
    """

    method: str
    url: str
    path: str
    chute: str
    headers: Mapping[str, str]
    json: Any
    content: bytes
    chute_id: str | None = None


@attrs.frozen
class Reply:
    """A custom cord's full answer: status, body and headers.

    Give ``json`` for a JSON body, or ``content`` (with ``content_type``) for raw bytes.
    """

    status: int = 200
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


Handler = Callable[[FakeRequest], "dict[str, Any] | list[Any] | bytes | Reply"]


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that arrives in pieces, made as they are read, for sync and async clients."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


@attrs.define
class _Fault:
    status: int
    retry_after: float | None
    detail: Any
    kind: str | None


@attrs.define
class _StreamFault:
    after_events: int
    message: str | None  # None: cut without a word; else the raw error line


@attrs.define
class _Model:
    chute: ChuteRecord
    price: tuple[float, float] | None


@attrs.frozen
class _Where:
    """Where a request went: the platform API, a gateway, a chute, or nowhere known."""

    kind: str  # "api" | "gateway" | "chute" | "unknown"
    base: str
    path: str
    record: ChuteRecord | None = None
    needs_key: bool = True
    gateway: str | None = None


@attrs.frozen
class _Call:
    """What a built-in route needs: the request, the reply text set for it, its chute."""

    request: FakeRequest
    reply: str | None
    record: ChuteRecord | None


def _digest(data: bytes) -> Any:
    """A stable digest for deterministic ids and seeds (not for security)."""
    return hashlib.sha256(data)


def _words(text: str) -> list[str]:
    """Split text into the pieces a fake tokenizer counts (words with their leading space)."""
    pieces: list[str] = []
    for index, word in enumerate(text.split()):
        pieces.append(word if index == 0 else f" {word}")
    return pieces


class FakeChutes(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An in-process fake of the chutes platform, usable as a sync and async httpx transport.

    Chutes exist once added: :meth:`add_chute` (a chute the platform API knows),
    :meth:`add_model` (a model on the gateways and its chute), or :meth:`reply` /
    :meth:`cord` / :meth:`cold_for`, which make the chute they name exist.

    **Time and warm-up.** The fake keeps its own time: the ``clock`` reading plus the
    seconds its warm-up streams stood for. A chute added with ``hot=False`` turns hot
    ``warmup_after`` seconds after it was added (on that time), or after answering
    ``warmup_polls`` warm-up polls cold, whichever comes first (neither given: 10 s). A
    poll is one quick status (``warmup?quick=true``) or one event of a warm-up stream.
    The warm-up stream never sleeps: each cold event stands for the platform's 5 s between
    checks, so reading it moves the fake's time 5 s per cold event, and the stream ends
    with the hot event once the chute is hot; after 120 cold events (600 s) it just ends,
    like the platform's. Pass a :class:`chutes.testing.FakeClock` to move the time from a
    test; with the default ``time.monotonic`` the timeline follows the wall clock.

    Args:
        api_key: the key it accepts (as ``Authorization: Bearer`` or ``X-API-Key``).
        domain: the platform domain whose subdomains are chutes.
        api_url: the platform API (``/chutes/...``, ``/users/me...``, ``/pricing``).
        any_chute: serve every chute name, slug, id, URL and gateway model, not only the
            ones added (``False``, the platform's behaviour, answers 404 for the others).
        embedding_dim: the length of the fake embedding vectors.
        clock: the monotonic clock cold chutes warm up on (default ``time.monotonic``).
        scoped_keys: more keys it accepts, each scoped: it calls chutes, but the account
            endpoints answer it 401 like the platform answers a key without admin scope.
            Give ``api_key`` here too to make the fake's own key scoped.
        username: the account the keys belong to; it owns the chutes added under its
            name (``f"{fake.username}/..."``) and sees its private chutes.

    Attributes:
        requests: every request received, in order (:class:`FakeRequest`).
        quota_total: the ``X-Chutes-Quota-Total`` sent on success responses.
        balance: the account balance in USD; warm-up answers 402 at or below 0.
        payment_address: the account's payment address.
        permissions: the account's permissions (``/users/me``).
        quotas: what ``/users/me/quotas`` answers: ``{}``, a list of rules, or a mapping
            like ``{"*": 0}`` (``None``: one global rule of ``quota_total``).
        subscription: what ``/users/me/subscription_usage`` answers (``{"subscription":
            False}``, or ``{"four_hour": {...}, "monthly": {...}}``).
        usage_buckets: the buckets ``/users/me/usage`` pages through, each ``{"bucket":
            ISO time, "chute_id", "amount", "count", "input_tokens", "output_tokens"}``.
        pricing: what ``/pricing`` answers.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        domain: str = DEFAULT_DOMAIN,
        api_url: str = DEFAULT_API_URL,
        any_chute: bool = False,
        embedding_dim: int = 8,
        clock: Callable[[], float] | None = None,
        scoped_keys: Iterable[str] = (),
        username: str = "fakeuser",
    ) -> None:
        self.api_key = api_key
        self.domain = domain
        self.api_url = api_url.rstrip("/")
        self.any_chute = any_chute
        self.embedding_dim = embedding_dim
        self.clock: Callable[[], float] = clock or time.monotonic
        self.scoped_keys = frozenset(scoped_keys)
        self.username = username
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_OID, username))
        self.requests: list[FakeRequest] = []
        self.quota_total = 1000
        self.balance = 100.0
        self.payment_address = "5FakePaymentAddressForTheFakeChutesAccount0000"
        self.permissions: list[str] = []
        self.quotas: Any = None
        self.subscription: Any = {"subscription": False}
        self.usage_buckets: list[dict[str, Any]] = []
        self.pricing: dict[str, Any] = api.default_pricing()
        self._lock = threading.RLock()
        self._chutes: list[ChuteRecord] = []
        self._by_base: dict[str, ChuteRecord] = {}
        self._by_id: dict[str, ChuteRecord] = {}
        self._models: dict[str, _Model] = {}
        self._replies: dict[str, str] = {}
        self._cords: dict[tuple[str, str, str], Handler] = {}
        self._faults: deque[_Fault] = deque()
        self._stream_faults: deque[_StreamFault] = deque()
        self._calls: collections.Counter[str] = collections.Counter()
        self._counter = itertools.count(1)
        self._order = itertools.count()
        self._used = 0
        self._skipped = 0.0
        self._e2ee: dict[str, FakeE2EE] = {}  # by chute id, made on first use

    # -- configuration ----------------------------------------------------------------

    def add_chute(
        self,
        chute: str,
        *,
        public: bool = True,
        hot: bool = True,
        warmup_after: float | None = None,
        warmup_polls: int | None = None,
        cords: Sequence[str | Mapping[str, Any]] | None = None,
        instances: int | Sequence[Mapping[str, Any]] | None = None,
        price: Mapping[str, Any] | None = None,
        slug: str | None = None,
        tee: bool = False,
        template: str | None = "vllm",
        concurrency: int | None = None,
        max_instances: int | None = None,
        shared: bool = False,
        disabled: bool = False,
    ) -> str | None:
        """Add a chute the platform knows (or replace the one of that name).

        Args:
            chute: ``"user/name"`` for a platform chute (its id is the platform's uuid5 of
                the name); ``slug:...``, ``id:...``, a URL or ``"llm"`` only make that
                address answer (the platform API does not list those).
            public: whether it is public; a private chute is seen only by the account's
                key, when ``username`` owns it or it is ``shared``.
            hot: whether it starts hot; a cold chute answers its cords (and the gateway its
                models) 503 "No instances available" until it is hot.
            warmup_after: seconds (on the fake's time, from now) until a cold chute is hot;
                ``math.inf``: never by time.
            warmup_polls: warm-up polls a cold chute answers cold before it is hot.
            cords: its cords: paths, or dicts of ``method``, ``path``, ``public_api_path``,
                ``public_api_method``, ``function``, ``stream``, ``passthrough``,
                ``output_content_type`` and ``input_schema`` (flat, or the platform's
                ``input_args`` form). ``None``: the template's (``vllm``: the two
                ``/v1/chat/completions`` cords, streamed and not, the two
                ``/v1/completions`` cords and ``GET /v1/models``). A chute with cords
                answers only those (404 "No matching cord found!" otherwise).
            instances: how many instances it has when hot, or their dicts.
            price: its ``current_estimated_price`` as the platform sends it (default: the
                template's, like the platform's).
            slug: its subdomain slug when the platform gave it a clash suffix
                (``myuser-my-llm-x7k2p``); then only that subdomain serves it.
            tee: whether it runs in a TEE.
            template: its ``standard_template`` (``"vllm"``, ``"diffusion"``,
                ``"embedding"``, ``"tei"`` or ``None``).
            concurrency: requests per instance at once.
            max_instances: the most instances.
            shared: a private chute shared with the account.
            disabled: warm-up answers 503 "This chute is currently disabled.".

        Returns:
            The chute's id (``None`` for a bare address).

        Raises:
            chutes.ConfigurationError: for an invalid target or slug.
            ValueError: for an invalid cord description.
        """
        # A bare address serves every built-in route unless given cords of its own.
        named = self._ref(chute).kind == "name"
        made_cords = api.make_cords(cords, template if named else None)
        with self._lock:
            record = self._make(chute, slug=slug)
            record.public = public
            record.shared = shared
            record.tee = tee
            record.template = template
            record.cords = made_cords
            record.instances = api.make_instances(record.chute_id or record.key, instances)
            record.price = None if price is None else dict(price)
            record.concurrency = concurrency
            record.max_instances = max_instances
            record.disabled = disabled
            if hot:
                record.hot_at, record.polls_left = -math.inf, None
            else:
                if warmup_after is None and warmup_polls is None:
                    warmup_after = 10.0
                after = math.inf if warmup_after is None else float(warmup_after)
                record.hot_at = self._now() + after
                record.polls_left = warmup_polls
            return record.chute_id

    def add_model(
        self,
        model: str,
        chute: str | None = None,
        *,
        price_in: float | None = 0.1,
        price_out: float | None = 0.4,
    ) -> str:
        """Serve ``model`` on the gateways, routed to ``chute``.

        Args:
            model: the name the body's ``model`` holds.
            chute: the chute serving it (``"user/name"``), added as a hot ``vllm`` chute if
                it is not known yet; default ``"chutes/{model}"``, as the platform names
                its own.
            price_in: USD per million input tokens (``None``: the model has no price).
            price_out: USD per million output tokens.

        Returns:
            The chute's id.

        Raises:
            chutes.ConfigurationError: for an invalid chute name.
        """
        name = chute if chute is not None else f"chutes/{model}"
        prices = None if price_in is None or price_out is None else (price_in, price_out)
        with self._lock:
            record = self._by_id.get(chute_id(name))
            if record is None:
                self.add_chute(name)
                record = self._by_id[chute_id(name)]
            if prices is not None and record.price is None and record.template == "vllm":
                record.price = api.price_json("vllm", self._tao_usd(), prices)
            self._models[model] = _Model(record, prices)
            assert record.chute_id is not None
            return record.chute_id

    def reply(self, chute: str, text: str) -> None:
        """Make ``chute`` answer every chat and text completion with ``text``.

        ``chute`` is a name (made to exist if needed), ``slug:``, ``id:``, a URL, or
        ``"llm"`` for the gateway (the fallback of every model's chute).
        """
        with self._lock:
            self._replies[self._find_or_make(chute).key] = text

    def cord(self, chute: str, path: str, handler: Handler, *, method: str = "POST") -> None:
        """Serve ``handler`` at ``path`` on ``chute`` (made to exist if needed).

        The handler gets a :class:`FakeRequest` and returns a dict or list (JSON), bytes
        (``application/octet-stream``) or a :class:`Reply`.
        """
        with self._lock:
            key = self._find_or_make(chute).key
            self._cords[(key, method.upper(), "/" + path.lstrip("/"))] = handler

    def cold_for(self, chute: str, seconds: float) -> None:
        """Make ``chute`` cold now and hot again ``seconds`` later (on the fake's time).

        Args:
            chute: the chute (made to exist if needed).
            seconds: how long it stays cold; ``math.inf`` for good.
        """
        with self._lock:
            record = self._find_or_make(chute)
            record.hot_at = self._now() + float(seconds)
            record.polls_left = None

    def e2ee(self, chute: str) -> FakeE2EE:
        """The E2E-capable instances of ``chute`` (made, two of them, if needed), to
        script them: ``retire(instance_id)`` (410), ``make_legacy(instance_id)`` (400 for a
        request not streamed), ``fetches``, ``live_nonces()``.

        Every hot chute added by name serves end-to-end encrypted calls, with real
        ML-KEM-768 keys (the ``[e2ee]`` extra): the instances route hands out single-use
        nonces, ``/e2e/invoke`` decrypts the body, runs the call like any other (it is
        recorded twice: the encrypted request as sent, then the call the instance
        decrypted) and encrypts the reply, whole or as a stream.

        Raises:
            ConfigurationError: without the ``[e2ee]`` extra, or for a chute not added by
                name or id (the platform encrypts only for chutes it knows).
        """
        with self._lock:
            record = self._find_or_make(chute)
        if record.chute_id is None:
            raise ConfigurationError(f"E2EE needs a chute added by name or id, not {chute!r}")
        return self._e2ee_of(record.chute_id)

    def _e2ee_of(self, chute_id: str) -> FakeE2EE:
        with self._lock:
            found = self._e2ee.get(chute_id)
            if found is None:
                found = self._e2ee[chute_id] = FakeE2EE(chute_id, clock=self._now)
            return found

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        detail: Any = None,
        kind: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After`` if given).

        Args:
            status: the status to answer.
            times: how many requests.
            retry_after: seconds for a ``Retry-After`` header (the platform sends none).
            detail: the ``detail`` to answer instead of the platform's words.
            kind: which of the platform's answers for ``status``:
                429: ``"capacity"`` (default: "Infrastructure is at maximum capacity..."),
                ``"daily_limit"`` ("Free models limit reached for today..."),
                ``"rate_limited"`` (the edge's HTML page, not JSON; ``detail=""`` for an
                empty body);
                402: ``"quota"`` (default: ``{"message", "quota_reset_timestamp"}``),
                ``"balance"`` (a string);
                503: ``"cold"`` (default: "No instances available (yet) ..."),
                ``"disabled"``.

        Raises:
            ValueError: for a kind ``status`` does not have.
        """
        kinds = _FAULT_KINDS.get(status, ())
        if kind is not None and kind not in kinds:
            known = ", ".join(kinds) or "none"
            raise ValueError(f"status {status} has no kind {kind!r} (kinds: {known})")
        chosen = kind or (kinds[0] if kinds else None)
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(status, retry_after, detail, chosen))

    def cut_next_stream(self, *, after_events: int) -> None:
        """End the next stream after ``after_events`` events, with no ``[DONE]``."""
        with self._lock:
            self._stream_faults.append(_StreamFault(after_events, None))

    def error_next_stream(self, message: str, *, after_events: int) -> None:
        """After ``after_events`` events, write the raw ``{"error": message}`` line and end."""
        with self._lock:
            self._stream_faults.append(_StreamFault(after_events, message))

    # -- clients ----------------------------------------------------------------------

    def client(self, **options: Any) -> Any:
        """A ready ``chutes.Client`` on this fake (it owns and closes its httpx client).

        Args:
            **options: more ``chutes.Client`` options; ``domain`` and ``api_url`` default
                to the fake's.
        """
        from .._sync.client import Client

        options.setdefault("domain", self.domain)
        options.setdefault("api_url", self.api_url)
        return Client(api_key=self.api_key, transport=self, **options)

    def async_client(self, **options: Any) -> Any:
        """A ready ``chutes.AsyncClient`` on this fake (see :meth:`client`)."""
        from .._async.client import AsyncClient

        options.setdefault("domain", self.domain)
        options.setdefault("api_url", self.api_url)
        return AsyncClient(api_key=self.api_key, transport=self, **options)

    # -- records ----------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock() + self._skipped

    def _tao_usd(self) -> float:
        found = self.pricing.get("tao_usd") if isinstance(self.pricing, Mapping) else None
        return float(found) if isinstance(found, (int, float)) and found > 0 else 400.0

    def _ref(self, chute: str) -> TargetRef:
        if chute == GATEWAY_SLUG:
            return TargetRef("slug", GATEWAY_SLUG)
        return parse_target(chute)

    def _make(self, chute: str, *, slug: str | None = None) -> ChuteRecord:
        """A fresh record for ``chute``, replacing any of the same name or address."""
        ref = self._ref(chute)
        if ref.kind != "name":
            base = ref.resolve(domain=self.domain, api_url=self.api_url).base_url
            self._forget(self._by_base.get(base))
            record = ChuteRecord(key=base, bases=[base], order=next(self._order))
            record.chute_id = ref.value if ref.kind == "id" else None
            self._by_base[base] = record
            self._chutes.append(record)
            return record
        owner, _, name = ref.value.partition("/")
        ident = chute_id(ref.value)
        label = parse_target(f"slug:{slug}").value if slug is not None else slugify(ref.value)
        replaced = self._by_id.get(ident)
        self._forget(replaced)
        bases = [f"https://{label}.{self.domain}", f"{self.api_url}/chutes/{ident}"]
        record = ChuteRecord(
            key=ident,
            bases=bases,
            name=name,
            owner=owner,
            chute_id=ident,
            slug=label,
            order=next(self._order),
        )
        for base in bases:
            self._forget(self._by_base.get(base))
            self._by_base[base] = record
        self._by_id[ident] = record
        self._chutes.append(record)
        for model in self._models.values():
            if model.chute is replaced:
                model.chute = record  # the models it served are served by its new record
        return record

    def _forget(self, record: ChuteRecord | None) -> None:
        if record is None or record not in self._chutes:
            return
        self._chutes.remove(record)
        for base in record.bases:
            if self._by_base.get(base) is record:
                del self._by_base[base]
        if record.chute_id is not None and self._by_id.get(record.chute_id) is record:
            del self._by_id[record.chute_id]

    def _find_or_make(self, chute: str) -> ChuteRecord:
        """The record ``chute`` names, made (a hot chute serving every route) if unknown."""
        ref = self._ref(chute)
        if ref.kind == "name":
            found = self._by_id.get(chute_id(ref.value))
        elif ref.kind == "id" and ref.value in self._by_id:
            found = self._by_id[ref.value]
        else:
            base = ref.resolve(domain=self.domain, api_url=self.api_url).base_url
            found = self._by_base.get(base)
        if found is not None:
            return found
        record = self._make(chute)
        record.template = None
        record.instances = api.make_instances(record.chute_id or record.key, None)
        return record

    def _is_hot(self, record: ChuteRecord) -> bool:
        return record.hot_at <= self._now() or record.polls_left == 0

    def _poll(self, record: ChuteRecord) -> bool:
        """One warm-up poll: whether it is hot now; a cold answer counts down the polls."""
        with self._lock:
            if self._is_hot(record):
                record.hot_at, record.polls_left = -math.inf, None
                return True
            if record.polls_left is not None:
                record.polls_left -= 1
            return False

    def _price(self, record: ChuteRecord) -> dict[str, Any]:
        if record.price is not None:
            return record.price
        return api.price_json(record.template, self._tao_usd())

    def _visible(self, record: ChuteRecord, identity: str) -> bool:
        """Whether a key (or no key) may see the chute: public, owned, or shared."""
        if record.public:
            return True
        return identity in (_USER, _SCOPED) and (record.owner == self.username or record.shared)

    def _lookup(self, ident: str, identity: str) -> ChuteRecord | None:
        """A chute by id, ``user/name`` or bare name, as ``/chutes/{id_or_name}`` finds it.

        A bare name shared by several owners is the ``chutes`` user's, else the account's,
        else the first added (the platform says: prefer the id).
        """
        wanted = ident.strip("/").lower()
        seen = [r for r in self._chutes if r.name is not None and self._visible(r, identity)]
        for record in seen:
            if record.chute_id == wanted or (record.full_name or "").lower() == wanted:
                return record
        named = [r for r in seen if (r.name or "").lower() == wanted]
        named.sort(key=lambda r: (r.owner != "chutes", r.owner != self.username, r.order))
        return named[0] if named else None

    # -- transport --------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (sync transport interface)."""
        request.read()
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (async transport interface)."""
        await request.aread()
        return self._answer(request)

    def _locate(self, request: httpx.Request) -> _Where:
        url = request.url
        full = str(url.copy_with(query=None, fragment=None))
        with self._lock:
            if full == self.api_url or full.startswith(self.api_url + "/"):
                return self._locate_api(full[len(self.api_url) :] or "/")
            host = url.host
            label, dot, rest = host.partition(".")
            base = f"{url.scheme}://{url.netloc.decode('ascii')}"
            if dot and rest == self.domain and label in _GATEWAYS:
                found = self._by_base.get(f"https://{host}")
                return _Where("gateway", base, url.path or "/", found, gateway=label)
            for known in sorted(self._by_base, key=len, reverse=True):
                if full == known or full.startswith(known + "/"):
                    record = self._by_base[known]
                    return _Where("chute", known, full[len(known) :] or "/", record)
            if self.any_chute:
                return _Where("chute", base, url.path or "/")
            return _Where("unknown", base, url.path or "/")

    def _locate_api(self, path: str) -> _Where:
        invoked = _UUID_PATH.fullmatch(path)
        if invoked and invoked.group(2) is not None:
            base = f"{self.api_url}/chutes/{invoked.group(1).lower()}"
            record = self._by_base.get(base)
            if record is not None or self.any_chute:
                return _Where("chute", base, invoked.group(2), record)
            return _Where("unknown", base, invoked.group(2))
        # The chutes lookups and /pricing take no key; FastAPI answers unknown routes 404.
        needs_key = path.startswith(("/chutes/warmup/", "/users/", "/e2e/"))
        return _Where("api", self.api_url, path, needs_key=needs_key)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        where = self._locate(request)
        recorded = self._record(request, where)
        if (
            where.kind in ("chute", "gateway")
            and request.method == "GET"
            and where.path.startswith("/images/")
        ):
            return self._image_file(recorded)  # generated image URLs are public, like a CDN's
        identity = self._identity(request)
        if identity == _INVALID or (identity == _ANONYMOUS and where.needs_key):
            return self._error(401, BAD_KEY)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            return self._fault(fault, recorded)
        if where.kind == "api":
            return self._api(request, where, identity)
        if where.kind == "gateway":
            return self._gateway(request, where, recorded)
        if where.kind == "chute":
            return self._invoke(request, where, recorded, identity)
        return self._error(404, NO_CHUTE)

    def _record(self, request: httpx.Request, where: _Where) -> FakeRequest:
        headers = {}
        for name, value in request.headers.items():
            if name.lower() in _AUTH_HEADERS:
                value = REDACTED
            headers[name.lower()] = value
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = None
        served_by = where.record.chute_id if where.record is not None else None
        if where.kind == "gateway":
            model_name = body.get("model") if isinstance(body, dict) else None
            model = self._models.get(model_name) if isinstance(model_name, str) else None
            served_by = model.chute.chute_id if model is not None else None
        recorded = FakeRequest(
            method=request.method,
            url=str(request.url),
            path=where.path,
            chute=where.base if where.kind != "unknown" else "",
            headers=headers,
            json=body,
            content=request.content,
            chute_id=served_by,
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded

    def _identity(self, request: httpx.Request) -> str:
        """Who the request's key is: no key, a wrong one, the account's, or a scoped one."""
        bearer: str | None = request.headers.get("authorization")
        if bearer is not None:
            key = bearer[7:] if bearer[:7].lower() == "bearer " else None
        else:
            key = request.headers.get("x-api-key")
            if key is None:
                return _ANONYMOUS
        if key in self.scoped_keys:
            return _SCOPED
        return _USER if key == self.api_key else _INVALID

    # -- responses --------------------------------------------------------------------

    def _meta_headers(self) -> dict[str, str]:
        with self._lock:
            number = next(self._counter)
            self._used += 1
            used = self._used
        return {
            "X-Chutes-InvocationID": f"inv-{number:08d}",
            "X-Chutes-Quota-Total": str(self.quota_total),
            "X-Chutes-Quota-Used": str(used),
            "X-Chutes-Quota-Remaining": str(max(0, self.quota_total - used)),
        }

    def _error(
        self, status: int, detail: Any, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return httpx.Response(status, json={"detail": detail}, headers=headers)

    def _fault(self, fault: _Fault, recorded: FakeRequest) -> httpx.Response:
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        if fault.kind == "rate_limited":
            if fault.detail == "":
                return httpx.Response(429, content=b"", headers=headers)
            edge = {**headers, "Content-Type": "text/html"}
            return httpx.Response(429, content=_EDGE_429, headers=edge)
        detail = fault.detail
        if detail is None:
            detail = {
                "capacity": CAPACITY,
                "daily_limit": DAILY_LIMIT,
                "quota": _QUOTA_402,
                "balance": self._balance_detail(),
                "cold": api.cold_detail(recorded.chute_id),
                "disabled": api.DISABLED,
            }.get(fault.kind or "", _DEFAULT_MESSAGES.get(fault.status, "Error."))
        return self._error(fault.status, detail, headers)

    def _balance_detail(self) -> str:
        return (
            f"Account balance is ${self.balance}, please top-up with fiat or send tao to "
            f"{self.payment_address}"
        )

    def _json(self, payload: Any, *, meta: bool = True) -> httpx.Response:
        return httpx.Response(200, json=payload, headers=self._meta_headers() if meta else None)

    def _custom(self, result: dict[str, Any] | list[Any] | bytes | Reply) -> httpx.Response:
        if isinstance(result, Reply):
            headers = {**self._meta_headers(), **result.headers}
            if result.content is not None:
                headers["Content-Type"] = result.content_type or "application/octet-stream"
                return httpx.Response(result.status, content=result.content, headers=headers)
            return httpx.Response(result.status, json=result.json, headers=headers)
        if isinstance(result, bytes):
            headers = {**self._meta_headers(), "Content-Type": "application/octet-stream"}
            return httpx.Response(200, content=result, headers=headers)
        return self._json(result)

    def _sse(self, events: Iterable[bytes], *, meta: bool = True) -> httpx.Response:
        """A ``text/event-stream`` answer; the next stream fault, if any, applies to it."""
        with self._lock:
            fault = self._stream_faults.popleft() if self._stream_faults else None
        if fault is not None:
            events = self._faulted(events, fault)
        headers = {
            **(self._meta_headers() if meta else {}),
            "Content-Type": _SSE_TYPE,
            "Cache-Control": "no-cache",
        }
        return httpx.Response(200, headers=headers, stream=_Body(events))

    @staticmethod
    def _faulted(events: Iterable[bytes], fault: _StreamFault) -> Iterator[bytes]:
        yield from itertools.islice(events, fault.after_events)
        if fault.message is not None:
            yield json.dumps({"error": fault.message}).encode()

    # -- chutes and the gateway -------------------------------------------------------------

    def _count(self, record: ChuteRecord | None) -> None:
        if record is not None:
            with self._lock:
                record.invocation_count += 1
                if record.chute_id is not None:
                    self._calls[record.chute_id] += 1

    def _invoke(
        self, request: httpx.Request, where: _Where, recorded: FakeRequest, identity: str
    ) -> httpx.Response:
        record = where.record
        key = record.key if record is not None else where.base
        method, path = request.method, where.path
        if record is not None:
            if record.name is not None and not self._visible(record, identity):
                return self._error(404, NO_CHUTE)
            if not self._is_hot(record):
                return self._error(503, api.cold_detail(record.chute_id))
        handler = self._cords.get((key, method, path))
        if handler is not None:
            self._count(record)
            return self._custom(handler(recorded))
        declared = record.served() if record is not None else set()
        if declared and (method, path) not in declared:
            return self._error(404, NO_CORD)
        route = self._ROUTES.get((method, path))
        if route is None:
            if declared:  # a declared cord with no handler: an empty JSON answer
                self._count(record)
                return self._json({})
            return self._error(404, NO_CORD)
        self._count(record)
        return route(self, _Call(recorded, self._replies.get(key), record))

    def _gateway(
        self, request: httpx.Request, where: _Where, recorded: FakeRequest
    ) -> httpx.Response:
        """The gateways: the body's ``model`` picks the chute, as on the platform."""
        key = where.record.key if where.record is not None else where.base
        gateway_reply = self._replies.get(key)
        method, path = request.method, where.path
        handler = self._cords.get((key, method, path))
        if handler is not None:
            return self._custom(handler(recorded))
        if (method, path) == ("GET", "/v1/models"):
            return self._gateway_models(where.gateway or GATEWAY_SLUG)
        route = self._ROUTES.get((method, path))
        if route is None:
            return self._error(404, NO_CORD)
        body = recorded.json if isinstance(recorded.json, dict) else {}
        model = body.get("model")
        entry = self._models.get(model) if isinstance(model, str) else None
        allowed = api.GATEWAY_TEMPLATES.get(where.gateway or "", frozenset())
        template = entry.chute.template if entry is not None else None
        if entry is not None and (template is None or template in allowed):
            record = entry.chute
            if not self._is_hot(record):
                return self._error(503, api.cold_detail(record.chute_id))
            self._count(record)
            reply = self._replies.get(record.key, gateway_reply)
            return route(self, _Call(recorded, reply, record))
        if self.any_chute:
            return route(self, _Call(recorded, gateway_reply, None))
        if not isinstance(model, str):
            return self._error(400, "a model is required")
        return self._error(404, f"model not found: {model}")

    def _gateway_models(self, gateway: str) -> httpx.Response:
        allowed = api.GATEWAY_TEMPLATES.get(gateway, frozenset())
        tao = self._tao_usd()
        with self._lock:
            data = [
                api.model_json(name, entry.chute, entry.price, tao)
                for name, entry in self._models.items()
                if entry.chute.template is None or entry.chute.template in allowed
            ]
        if not data and self.any_chute:
            fallback = ChuteRecord(
                key="", bases=[], chute_id="00000000-0000-4000-8000-000000000000"
            )
            data = [api.model_json("fake-model", fallback, (0.1, 0.2), tao)]
        return self._json({"object": "list", "data": data}, meta=False)

    # -- the platform API ---------------------------------------------------------------------

    def _api(self, request: httpx.Request, where: _Where, identity: str) -> httpx.Response:
        params = dict(request.url.params)
        path = where.path
        try:
            if path == INVOKE_PATH and request.method == "POST":
                return self._e2ee_invoke(request, identity)
            if request.method == "GET":
                if path.startswith(_INSTANCES_PREFIX):
                    return self._e2ee_instances(path[len(_INSTANCES_PREFIX) :], identity)
                if path in ("/chutes", "/chutes/"):
                    return self._list(params, identity)
                if path.startswith("/chutes/warmup/"):
                    return self._warmup(path[len("/chutes/warmup/") :], params, identity)
                if path.startswith("/chutes/"):
                    return self._get_chute(path[len("/chutes/") :], identity)
                if path == "/pricing":
                    return self._json(self.pricing, meta=False)
                if path == "/users/me" or path.startswith("/users/me/"):
                    if identity == _SCOPED:
                        return self._error(401, SCOPED_KEY)
                    return self._account(path[len("/users/me") :], params)
            return self._error(404, "Not Found")
        except api.QueryError as exc:
            return httpx.Response(422, json={"detail": exc.detail})

    def _e2ee_instances(self, ident: str, identity: str) -> httpx.Response:
        """``GET /e2e/instances/{chute_id}``: the hot chute's instances with fresh nonces."""
        with self._lock:
            record = self._by_id.get(ident.lower())
            visible = record is not None and self._visible(record, identity)
        if record is None or record.chute_id is None or not visible:
            return self._error(404, api.CHUTE_NOT_FOUND)
        if not self._is_hot(record):
            return self._error(404, NO_E2EE_INSTANCES)
        answer = self._e2ee_of(record.chute_id).instances_answer()
        if isinstance(answer, E2EERejection):
            return self._error(answer.status, answer.detail)
        return self._json(answer, meta=False)

    def _e2ee_invoke(self, request: httpx.Request, identity: str) -> httpx.Response:
        """``POST /e2e/invoke``: decrypt, run the call on its chute, encrypt the reply."""
        refused = FakeE2EE.missing_headers(request.headers)
        if refused is not None:
            return self._error(refused.status, refused.detail)
        ident = request.headers.get(CHUTE_ID_HEADER, "").lower()
        with self._lock:
            record = self._by_id.get(ident)
            instances = self._e2ee.get(ident)
        if record is None or instances is None:
            # No nonce was ever issued for it, so the one sent cannot be valid.
            return self._error(403, NONCE_ERROR_DETAIL)
        opened = instances.open(request.content, request.headers)
        if isinstance(opened, E2EERejection):
            return self._error(opened.status, opened.detail)
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in _AUTH_HEADERS or name.lower() == "user-agent"
        }
        plain = httpx.Request(
            "POST", f"{record.bases[0]}{opened.path}", headers=headers, json=opened.body
        )
        where = _Where("chute", record.bases[0], opened.path, record)
        answer = self._invoke(plain, where, self._record(plain, where), identity)
        if answer.status_code >= 300:
            return answer  # an error travels as the platform sends it, in the clear
        if not opened.stream:
            sealed = FakeE2EE.seal_reply(opened, answer.read())
            return httpx.Response(200, content=sealed, headers={"Content-Type": E2EE_TYPE})
        # The chute's stream (a stream fault already applied to it), each piece encrypted.
        frames = FakeE2EE.seal_stream(opened, answer.iter_raw())
        return httpx.Response(200, headers={"Content-Type": _SSE_TYPE}, stream=_Body(frames))

    def _get_chute(self, ident: str, identity: str) -> httpx.Response:
        with self._lock:
            record = self._lookup(ident, identity)
            if record is None:
                return self._error(404, api.CHUTE_NOT_FOUND)
            payload = api.chute_json(record, hot=self._is_hot(record), price=self._price(record))
        return self._json(payload, meta=False)

    def _list(self, params: Mapping[str, str], identity: str) -> httpx.Response:
        include_public = api.query_bool(params, "include_public") or False
        include_schemas = api.query_bool(params, "include_schemas") or False
        page = api.query_int(params, "page")
        offset = api.query_int(params, "offset")
        limit = api.query_int(params, "limit")
        limit = 25 if limit is None else limit
        if not 0 < limit <= 5000:
            raise api.QueryError("limit", str(limit), "less_than_equal", "Input should be <= 5000")
        if (page is not None and page < 0) or (offset is not None and offset < 0):
            raise api.QueryError("page", str(page), "greater_than_equal", "Input should be >= 0")
        name, exclude = (
            params.get("name", "").strip().lower(),
            params.get("exclude", "").strip().lower(),
        )
        slug, template = params.get("slug", "").strip().lower(), params.get("template", "").strip()
        with self._lock:
            chosen = []
            for record in self._chutes:
                if record.name is None:
                    continue
                own = identity in (_USER, _SCOPED) and record.owner == self.username
                if identity in (_USER, _SCOPED) and not include_public:
                    if not own:
                        continue
                elif not (record.public or own):
                    continue
                lowered = record.name.lower()
                if (name and name not in lowered) or (exclude and exclude in lowered):
                    continue
                if slug and (record.slug or "") != slug:
                    continue
                if template and (
                    record.template is not None
                    if template == "other"
                    else record.template != template
                ):
                    continue
                chosen.append(record)
            # The platform sorts by invocation count, most used first.
            chosen.sort(key=lambda r: (-r.invocation_count, r.order))
            start = offset if offset is not None else (page or 0) * limit
            shown = [(r, self._is_hot(r), self._price(r)) for r in chosen[start : start + limit]]
            payload = api.list_page(
                shown,
                total=len(chosen),
                page=page if page is not None else start // limit,
                limit=limit,
                include_schemas=include_schemas,
            )
        return self._json(payload, meta=False)

    def _warmup(self, ident: str, params: Mapping[str, str], identity: str) -> httpx.Response:
        quick = api.query_bool(params, "quick") or False
        with self._lock:
            record = self._lookup(ident, identity)
        if record is None:
            return self._error(404, api.CHUTE_NOT_FOUND)
        if self.balance <= 0:
            return self._error(402, self._balance_detail())
        if record.disabled:
            return self._error(503, api.DISABLED)
        if quick:
            hot = self._poll(record)
            return self._json(api.quick_json(record, hot=hot), meta=False)
        return self._sse(self._warmup_events(record), meta=False)

    def _warmup_events(self, record: ChuteRecord) -> Iterator[bytes]:
        """The warm-up stream, made as it is read: cold events 5 s apart on the fake's
        time (none really waited), then the hot event; nothing more after 600 s."""
        for _ in range(api.WARMUP_MAX_EVENTS):
            if self._poll(record):
                yield api.warmup_frame(hot=True, instance_count=len(record.instances))
                return
            yield api.warmup_frame(hot=False)
            with self._lock:
                self._skipped += api.WARMUP_POLL_SECONDS

    def _quotas(self) -> Any:
        if self.quotas is not None:
            return self.quotas
        return [
            {
                "user_id": self.user_id,
                "chute_id": "*",
                "quota": self.quota_total,
                "is_default": True,
                "effective_date": "2025-01-01T00:00:00Z",
                "payment_refresh_date": None,
                "updated_at": "2025-01-01T00:00:00Z",
            }
        ]

    def _account(self, path: str, params: Mapping[str, str]) -> httpx.Response:
        if path == "":
            return self._json(
                {
                    "username": self.username,
                    "user_id": self.user_id,
                    "logo_id": None,
                    "created_at": "2025-01-01T00:00:00Z",
                    "hotkey": "5FakeHotkey",
                    "coldkey": "5FakeColdkey",
                    "payment_address": self.payment_address,
                    "permissions_bitmask": 0,
                    "balance": self.balance,
                    "logo": None,
                    "permissions": list(self.permissions),
                    "quotas": self._quotas(),
                },
                meta=False,
            )
        if path == "/quotas":
            return self._json(self._quotas(), meta=False)
        if path.startswith("/quota_usage/"):
            with self._lock:
                calls = dict(self._calls)
            usage = api.quota_usage_json(self._quotas(), path[len("/quota_usage/") :], calls)
            return self._json(usage, meta=False)
        if path == "/subscription_usage":
            return self._json(self.subscription, meta=False)
        if path == "/usage":
            return self._json(api.usage_json(self.usage_buckets, params), meta=False)
        return self._error(404, "Not Found")

    # -- built-in cords -----------------------------------------------------------------------

    def _text_for(self, call: _Call, prompt: str) -> str:
        if call.reply is not None:
            return call.reply
        words = prompt.split()
        return "You said: " + (" ".join(words[-12:]).rstrip(".!?") if words else "nothing") + "."

    def _completion(self, call: _Call, *, chat: bool) -> httpx.Response:
        request = call.request
        body = request.json if isinstance(request.json, dict) else {}
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self._error(400, "messages must be a non-empty list")
            contents = [m.get("content") for m in messages if isinstance(m, dict)]
            prompt = " ".join(c for c in contents if isinstance(c, str))
            last = next((c for c in reversed(contents) if isinstance(c, str)), "")
        else:
            raw_prompt = body.get("prompt")
            if not isinstance(raw_prompt, str):
                return self._error(400, "prompt must be a string")
            prompt = last = raw_prompt
        pieces = _words(self._text_for(call, last))
        limit = body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and 0 <= limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        model = body.get("model") or "fake-model"
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(pieces),
            "total_tokens": len(prompt.split()) + len(pieces),
        }
        created = int(time.time())
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{_digest(prompt.encode()).hexdigest()[:16]}"
        if body.get("stream"):
            return self._stream(ident, created, model, pieces, finish, usage, chat=chat)
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces)},
                "logprobs": None,
                "finish_reason": finish,
            }
        else:
            choice = {
                "index": 0,
                "text": "".join(pieces),
                "logprobs": None,
                "finish_reason": finish,
            }
        return self._json(
            {
                "id": ident,
                "object": "chat.completion" if chat else "text_completion",
                "created": created,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        )

    def _stream(
        self,
        ident: str,
        created: int,
        model: str,
        pieces: list[str],
        finish: str,
        usage: dict[str, int],
        *,
        chat: bool,
    ) -> httpx.Response:
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bytes:
            payload = {"id": ident, "object": kind, "created": created, "model": model}
            payload["choices"] = choices
            payload.update(extra or {})
            return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

        def choice(piece: str | None, reason: str | None, *, first: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {"role": "assistant"} if first else {}
                if piece is not None:
                    delta["content"] = piece
                return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            return {"index": 0, "text": piece or "", "logprobs": None, "finish_reason": reason}

        events = [chunk([choice(p, None, first=i == 0)]) for i, p in enumerate(pieces)]
        events.append(chunk([choice(None if chat else "", finish)]))
        events.append(chunk([], {"usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return self._sse(events)

    def _chat(self, call: _Call) -> httpx.Response:
        return self._completion(call, chat=True)

    def _text(self, call: _Call) -> httpx.Response:
        return self._completion(call, chat=False)

    def _vector(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        values = itertools.cycle(digest)
        return [round((next(values) - 127.5) / 127.5, 6) for _ in range(self.embedding_dim)]

    def _embeddings(self, call: _Call) -> httpx.Response:
        body = call.request.json if isinstance(call.request.json, dict) else {}
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return self._error(400, "input must be a string or a list of strings")
        tokens = sum(len(i.split()) for i in inputs)
        return self._json(
            {
                "object": "list",
                "model": body.get("model") or "fake-embed",
                "data": [
                    {"object": "embedding", "index": n, "embedding": self._vector(text)}
                    for n, text in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _chute_models(self, call: _Call) -> httpx.Response:
        """A chute's own ``/v1/models``: the models added on it, else one fake model."""
        with self._lock:
            names = [n for n, m in self._models.items() if m.chute is call.record]
        entries = [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "chutes"}
            for name in names or ["fake-model"]
        ]
        return self._json({"object": "list", "data": entries})

    @staticmethod
    def _size(body: Mapping[str, Any]) -> tuple[int, int] | None:
        size = body.get("size")
        if isinstance(size, str) and "x" in size:
            w, _, h = size.partition("x")
            if w.isdigit() and h.isdigit():
                return int(w), int(h)
            return None
        width, height = body.get("width", 256), body.get("height", 256)
        if isinstance(width, int) and isinstance(height, int):
            return width, height
        return None

    def _images(self, call: _Call) -> httpx.Response:
        request = call.request
        body = request.json if isinstance(request.json, dict) else {}
        size = self._size(body)
        n = body.get("n", 1)
        if not isinstance(body.get("prompt"), str) or size is None or not isinstance(n, int):
            return self._error(400, "prompt, size and n are required and must be valid")
        if not (0 < size[0] <= 4096 and 0 < size[1] <= 4096 and 0 < n <= 4):
            return self._error(400, "size must be at most 4096x4096 and n at most 4")
        seed = int(_digest(body["prompt"].encode()).hexdigest()[:6], 16)
        data = []
        for index in range(n):
            png = make_png(size[0], size[1], seed + index)
            if body.get("response_format") == "url":
                key = f"{seed + index:x}-{size[0]}x{size[1]}"
                data.append({"url": f"{request.chute}/images/{key}.png", "revised_prompt": None})
            else:
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": None})
        return self._json({"created": int(time.time()), "data": data})

    def _generate(self, call: _Call) -> httpx.Response:
        body = call.request.json if isinstance(call.request.json, dict) else {}
        size = self._size(body)
        if not isinstance(body.get("prompt"), str) or size is None:
            return self._error(422, [{"loc": ["body", "prompt"], "msg": "field required"}])
        if not (0 < size[0] <= 4096 and 0 < size[1] <= 4096):
            return self._error(400, "width and height must be between 1 and 4096")
        seed = body.get("seed")
        if not isinstance(seed, int):
            seed = int(_digest(body["prompt"].encode()).hexdigest()[:6], 16)
        headers = {**self._meta_headers(), "Content-Type": "image/png"}
        return httpx.Response(200, content=make_png(size[0], size[1], seed), headers=headers)

    def _image_file(self, request: FakeRequest) -> httpx.Response:
        name = request.path.rsplit("/", 1)[-1].removesuffix(".png")
        seed_hex, _, size = name.partition("-")
        w, _, h = size.partition("x")
        try:
            png = make_png(int(w), int(h), int(seed_hex, 16))
        except ValueError:
            return self._error(404, NO_CORD)
        return httpx.Response(200, content=png, headers={"Content-Type": "image/png"})

    _ROUTES: Final[Mapping[tuple[str, str], Callable[[FakeChutes, _Call], httpx.Response]]] = {
        ("POST", "/v1/chat/completions"): _chat,
        ("POST", "/v1/completions"): _text,
        ("POST", "/v1/embeddings"): _embeddings,
        ("GET", "/v1/models"): _chute_models,
        ("POST", "/v1/images/generations"): _images,
        ("POST", "/generate"): _generate,
    }
