"""The chutes platform beyond calling a cord: identity, targets, and its API's JSON shapes.

Rule: pure. Parsed JSON in, typed values out; strings in, decisions out. No I/O, no clock:
the client fetches (``GET /chutes/{id}``, ``/chutes/warmup/...``, ``/users/me...``,
``/pricing``, the gateway's ``/v1/models``) and hands the parsed body to a function here.

The shapes are those of the platform's server code (PLATFORM.md). Unknown fields never fail;
a value of the wrong type or a missing required field raises :class:`DecodeError` naming
the field. Every top-level response value keeps the server's JSON in ``raw``. Leaf shapes
that map field for field are structured by cattrs (through the one converter factory,
:func:`chutes._core.decoding.make_converter`); the shapes the platform bends (two
spellings of one price, three shapes of one quota list, a cord's public path) have
hand-written normalisers.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeVar

import attrs

from .decoding import RENAMES, make_converter, structure
from .display import body_fields, markdown_cell, markdown_table, usd
from .errors import (
    ConfigurationError,
    DecodeError,
    detail_text,
)
from .public import export
from .targets import _LABEL, _UUID, Target, _check_name, normalize_base_url, resolve_target

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "AccountInfo",
    "Amount",
    "ChuteInfo",
    "ChuteStatus",
    "Cord",
    "GatewayModel",
    "Instance",
    "ModelPrice",
    "Price",
    "Pricing",
    "QuotaRule",
    "QuotaUsage",
    "Subscription",
    "SubscriptionWindow",
    "TargetRef",
    "UsageBucket",
    "WarmupEvent",
    "chute_id",
    "parse_target",
]

T = TypeVar("T")

TargetKind = Literal["name", "slug", "id", "url"]

# The gateway is the platform's chute at this subdomain: ``https://llm.{domain}``.
GATEWAY_SLUG: Final = "llm"
# The start of the platform's 503 for a chute with no hot instance: "No instances available
# (yet) for chute_id='...'". Warm-up (``/chutes/warmup/{id}``) is what follows it.
COLD_START_DETAIL: Final = "No instances available"
# The platform's 429 texts for the free-model daily limit; retrying today does not help.
_MAX_LIST_LIMIT: Final = 5000
# How deep ``$ref`` chains are followed, and how many are expanded in all; past either (or
# on a cycle) the ``$ref`` stays as is.
_MAX_REF_DEPTH: Final = 32
_MAX_EXPANSIONS: Final = 1000


# --- identity and targets ----------------------------------------------------------------


def chute_id(user_or_full: str, name: str | None = None) -> str:
    """The platform's id of a chute, computed from its owner and name (no request needed).

    The platform makes it ``uuid5(NAMESPACE_OID, "{username}::chute::{name}")``, so
    ``chute_id("chutes/kokoro") == chute_id("chutes", "kokoro")`` (``4be47dee-...``).

    Args:
        user_or_full: ``"username/chute-name"``, or the username when ``name`` is given.
        name: the chute's name (it may hold ``/``).

    Returns:
        The chute id, a lower-case UUID string.

    Raises:
        ConfigurationError: for a name the platform would not accept (see API.md).
    """
    if name is None:
        full = user_or_full
    else:
        if not isinstance(user_or_full, str) or "/" in user_or_full:
            raise ConfigurationError(
                f"username {user_or_full!r} must be one name part, without '/'"
            )
        if not isinstance(name, str):
            raise ConfigurationError(f"a chute name must be a str, got {type(name).__name__}")
        full = f"{user_or_full}/{name}"
    username, _, chute = _check_name(full).partition("/")
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{username}::chute::{chute}"))


@attrs.frozen(slots=True)
class TargetRef:
    """Which addressing form a CLI-style target string means, and its value.

    ``client.chute(**ref.as_kwargs())`` addresses it.

    Attributes:
        kind: ``"name"`` (``user/name``), ``"slug"``, ``"id"`` (a UUID) or ``"url"``.
        value: the name, slug, lower-case id, or normalised base URL.
    """

    kind: TargetKind
    value: str

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``client.chute(...)`` for this target.

        Returns:
            One of ``{"name": ...}``, ``{"slug": ...}``, ``{"id": ...}``, ``{"url": ...}``.
        """
        return {self.kind: self.value}

    def resolve(self, *, domain: str, api_url: str) -> Target:
        """The base URL and host this target is reached at.

        Args:
            domain: the platform domain (``chutes.ai``).
            api_url: the platform API's base URL, for ids.

        Returns:
            The :class:`~chutes._core.targets.Target`.

        Raises:
            ConfigurationError: when ``domain`` or ``api_url`` cannot make a valid URL.
        """
        return resolve_target(**self.as_kwargs(), domain=domain, api_url=api_url)

    def __str__(self) -> str:
        return self.value if self.kind in ("name", "url") else f"{self.kind}:{self.value}"


def parse_target(text: str) -> TargetRef:
    """Read a target as the command line (and ``chutes.ray``) takes it.

    One rule for every tool: ``user/name`` is a chute name, ``slug:<slug>`` a subdomain
    slug (e.g. with the platform's clash suffix), ``id:<uuid>`` a chute id, and an
    ``http://`` or ``https://`` URL any server.

    Args:
        text: the target string.

    Returns:
        The :class:`TargetRef`.

    Raises:
        ConfigurationError: for anything that is none of the four forms, or an invalid value.
    """
    if not isinstance(text, str) or not text:
        raise ConfigurationError("a target must be a non-empty string")
    if text[:8].lower().startswith(("http://", "https://")):
        return TargetRef("url", normalize_base_url(text, what="target"))
    prefix, sep, rest = text.partition(":")
    if sep:
        if prefix == "slug":
            if not _LABEL.fullmatch(rest):
                raise ConfigurationError(
                    f"invalid slug in target {text!r}: a slug is one DNS label of lower-case "
                    "letters, digits and inner '-', at most 63 characters"
                )
            return TargetRef("slug", rest)
        if prefix == "id":
            if not _UUID.fullmatch(rest):
                raise ConfigurationError(f"invalid id in target {text!r}: chute ids are UUIDs")
            return TargetRef("id", rest.lower())
        raise ConfigurationError(
            f"target {text!r} is not 'user/name', 'slug:<slug>', 'id:<uuid>' or an http(s) URL"
        )
    return TargetRef("name", _check_name(text))


# --- models ------------------------------------------------------------------------------


def _raw() -> Any:
    return attrs.field(factory=dict, eq=False, repr=False, kw_only=True)


@attrs.frozen(slots=True)
class Amount:
    """One price in both currencies the platform quotes; ``None`` where it gave none.

    Attributes:
        usd: in US dollars.
        tao: in TAO.
    """

    usd: float | None = None
    tao: float | None = None


@attrs.frozen(slots=True)
class Price:
    """A chute's ``current_estimated_price``, normalised; ``None`` where it does not apply.

    Attributes:
        per_million_input: per million input tokens (LLM chutes).
        per_million_output: per million output tokens (LLM chutes).
        per_step: per diffusion step (diffusion chutes).
        per_request: per request.
        hourly_min: the low end of the hourly price (the compute's price per hour).
        hourly_max: the high end of the hourly price.
        raw: the server's JSON.
    """

    per_million_input: Amount | None = None
    per_million_output: Amount | None = None
    per_step: Amount | None = None
    per_request: Amount | None = None
    hourly_min: Amount | None = None
    hourly_max: Amount | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class Instance:
    """One instance (a running copy on a miner's GPUs) of a chute.

    The chute's record gives region, verified and ``last_verified_at``; the quick warm-up
    status gives ``gpu_count`` and ``gpu_model_name``. Absent fields are ``None``.

    Attributes:
        instance_id: the instance's id.
        active: whether it serves requests.
        verified: whether the platform verified it.
        region: where it runs.
        last_verified_at: when it was last verified (ISO 8601, as sent).
        gpu_count: how many GPUs it has.
        gpu_model_name: which GPU model.
    """

    instance_id: str
    active: bool = False
    verified: bool | None = None
    region: str | None = None
    last_verified_at: str | None = None
    gpu_count: int | None = None
    gpu_model_name: str | None = None


@attrs.frozen(slots=True)
class Cord:
    """One endpoint of a chute, as a caller sends it.

    Attributes:
        method: the HTTP method to send (``public_api_method`` when given, else ``method``).
        path: the path to send (``public_api_path`` when given, else ``path``): LLM chutes
            answer at ``/v1/chat/completions`` while their internal path is e.g. ``/chat``.
        stream: whether it answers with server-sent events.
        function: the chute's Python function behind it.
        passthrough: whether the platform passes the body through untouched.
        output_content_type: the media type of its answer, when declared.
        input_schema: the platform's schema, as sent (with its ``input_args`` wrapper).
        body_schema: the flat JSON schema of the request body (see :func:`body_schema`);
            ``None`` when the platform sent no schema (lists strip them by default).
        raw: the server's JSON (its internal ``path`` and ``method`` are there).
    """

    method: str
    path: str
    stream: bool = False
    function: str | None = None
    passthrough: bool = False
    output_content_type: str | None = None
    input_schema: Mapping[str, Any] | None = None
    body_schema: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class ChuteInfo:
    """A chute as the platform API describes it (``GET /chutes/{id_or_name}``).

    Attributes:
        chute_id: its id (a UUID).
        name: its name without the owner (``kokoro`` for ``chutes/kokoro``); see
            :attr:`full_name`.
        slug: its subdomain slug (with the clash suffix, when there is one).
        hot: whether any instance is active and verified.
        public: whether anyone may call it.
        tee: whether it runs in a trusted execution environment.
        instances: its instances.
        price: its estimated price.
        cords: its endpoints (empty when the response carried none).
        template: the platform's ``standard_template`` (``"vllm"``, ``"diffusion"``, ...).
        owner: the owner's username.
        concurrency: requests one instance takes at once.
        max_instances: the most instances it scales to.
        raw: the server's JSON.
    """

    chute_id: str
    name: str
    slug: str | None = None
    hot: bool = False
    public: bool = False
    tee: bool = False
    instances: list[Instance] = attrs.field(factory=list)
    price: Price = attrs.field(factory=Price)
    cords: list[Cord] = attrs.field(factory=list)
    template: str | None = None
    owner: str | None = None
    concurrency: int | None = None
    max_instances: int | None = None
    raw: Mapping[str, Any] = _raw()

    @property
    def full_name(self) -> str:
        """``owner/name``, the form :func:`chute_id` and ``client.chute(...)`` take."""
        return f"{self.owner}/{self.name}" if self.owner else self.name

    def _repr_markdown_(self) -> str:
        """Jupyter's view: the name, hot or cold, the price, and a table of the cords."""
        head = (
            f"**{markdown_cell(self.full_name)}** ({markdown_cell(self.chute_id)}): "
            f"{status_text(self)}; {markdown_cell(price_text(self.price))}"
        )
        if not self.cords:
            return head
        return f"{head}\n\n{markdown_table(CORD_HEADERS, cord_rows(self))}"


class ChutePage(NamedTuple):
    """One page of ``GET /chutes/``: the chutes (cords joined in) and the paging numbers."""

    items: list[ChuteInfo]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        """Whether a later page holds more chutes."""
        return self.limit > 0 and (self.page + 1) * self.limit < self.total


@attrs.frozen(slots=True)
class ChuteStatus:
    """The quick warm-up status (``GET /chutes/warmup/{id}?quick=true``).

    Attributes:
        chute_id: the chute's id.
        hot: whether the platform said ``"hot"``.
        status: the status as sent (``"hot"`` or ``"cold"``).
        instance_count: how many instances it has.
        bounty: the bounty offered to miners to bring it up, when one is.
        instances: its instances (id, active, GPU count and model).
        raw: the server's JSON.
    """

    chute_id: str
    hot: bool
    status: str
    instance_count: int = 0
    bounty: float | None = None
    instances: list[Instance] = attrs.field(factory=list)
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class WarmupEvent:
    """One event of the warm-up stream: ``{"status": "cold"|"hot", "log": ...}``.

    Attributes:
        status: ``"cold"`` while waiting for instances, ``"hot"`` at the end.
        log: the platform's words (``"waiting for instances ..."``).
        raw: the event's JSON.
    """

    status: str
    log: str | None = None
    raw: Mapping[str, Any] = _raw()

    @property
    def hot(self) -> bool:
        """Whether this event says the chute is hot (the stream's last event)."""
        return self.status == "hot"


@attrs.frozen(slots=True)
class AccountInfo:
    """The account of the key (``GET /users/me``).

    Attributes:
        username: the account's username.
        user_id: its id.
        balance: its balance in USD.
        payment_address: where to send TAO to top up.
        permissions: what the account may do, as the platform words it.
        raw: the server's JSON (``quotas`` and more are there).
    """

    username: str
    user_id: str
    balance: float | None = None
    payment_address: str | None = None
    permissions: list[str] = attrs.field(factory=list)
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class QuotaRule:
    """A daily request quota (``GET /users/me/quotas``).

    Attributes:
        chute_id: the chute it applies to; ``"*"`` is every chute without a rule of its own.
        quota: requests per day.
        is_default: whether it is the platform's default rather than set for the account.
        effective_date: since when it applies, when sent.
    """

    chute_id: str
    quota: float
    is_default: bool = False
    effective_date: _dt.datetime | None = None


@attrs.frozen(slots=True)
class QuotaUsage:
    """Today's use of a chute's quota (``GET /users/me/quota_usage/{chute_id}``).

    Attributes:
        quota: requests per day; ``None`` when unlimited (the platform answers
            ``"unlimited"`` for free and invoiced accounts).
        used: requests used today.
        raw: the server's JSON.
    """

    quota: float | None
    used: float
    raw: Mapping[str, Any] = _raw()

    @property
    def remaining(self) -> float | None:
        """Requests left today, or ``None`` when unlimited."""
        return None if self.quota is None else max(0.0, self.quota - self.used)


@attrs.frozen(slots=True)
class SubscriptionWindow:
    """One spending window of a subscription, in USD.

    Attributes:
        usage: spent in the window.
        cap: the most the window allows.
        remaining: what is left.
        reset_at: when the window starts again.
    """

    usage: float | None = None
    cap: float | None = None
    remaining: float | None = None
    reset_at: _dt.datetime | None = None


@attrs.frozen(slots=True)
class Subscription:
    """The account's subscription use (``GET /users/me/subscription_usage``).

    Attributes:
        active: whether the account has a subscription (``{"subscription": false}`` if not).
        four_hour: the 4-hour window.
        monthly: the monthly window.
        raw: the server's JSON.
    """

    active: bool
    four_hour: SubscriptionWindow | None = None
    monthly: SubscriptionWindow | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class UsageBucket:
    """Spending in one time bucket (an item of ``GET /users/me/usage``).

    Attributes:
        bucket: the bucket's start.
        amount_usd: spent, in USD (the platform's ``amount``).
        count: requests made.
        input_tokens: input tokens, when sent.
        output_tokens: output tokens, when sent.
        chute_id: the chute, in per-chute listings.
    """

    bucket: _dt.datetime
    amount_usd: float = 0.0
    count: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    chute_id: str | None = None


class UsagePage(NamedTuple):
    """One page of ``GET /users/me/usage``: the buckets and the paging numbers."""

    items: list[UsageBucket]
    total: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        """Whether a later page holds more buckets."""
        return self.limit > 0 and (self.page + 1) * self.limit < self.total


@attrs.frozen(slots=True)
class Pricing:
    """The platform's compute prices (``GET /pricing``, no key needed).

    Attributes:
        tao_usd: the price of one TAO in USD.
        compute_unit_estimate: one compute unit (a second on the cheapest GPU).
        gpu_price_estimates: the hourly price of each GPU model, by its short name.
        raw: the server's JSON.
    """

    tao_usd: float | None = None
    compute_unit_estimate: Amount | None = None
    gpu_price_estimates: Mapping[str, Amount] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(slots=True)
class ModelPrice:
    """A gateway model's price per million tokens.

    Attributes:
        input_usd: per million input (prompt) tokens, in USD.
        output_usd: per million output (completion) tokens, in USD.
        input_tao: per million input tokens, in TAO, when sent.
        output_tao: per million output tokens, in TAO, when sent.
    """

    input_usd: float | None = None
    output_usd: float | None = None
    input_tao: float | None = None
    output_tao: float | None = None


@attrs.frozen(slots=True)
class GatewayModel:
    """A model the gateway serves (an item of its ``GET /v1/models``).

    Attributes:
        id: the model's name, as the body's ``model`` takes it.
        chute_id: the chute serving it.
        price: its price, or ``None`` when the gateway sent none.
        raw: the item's JSON.
    """

    id: str
    chute_id: str | None = None
    price: ModelPrice | None = None
    raw: Mapping[str, Any] = _raw()


# --- decoding helpers ----------------------------------------------------------------------

_converter: cattrs.Converter | None = None


def _conv() -> cattrs.Converter:
    """The converter for this module's leaf shapes: the shared factory's lenient converter,
    plus a date-time hook and the ``amount`` -> ``amount_usd`` rename, with detailed
    validation so a failure names the field (``@ $.instances[2].instance_id``)."""
    global _converter
    if _converter is None:
        conv = make_converter(renames={**RENAMES, UsageBucket: {"amount_usd": "amount"}})
        # cattrs reads this when it first generates a class's hook, which is later.
        conv.detailed_validation = True
        conv.register_structure_hook(_dt.datetime, _datetime_hook)
        conv.register_structure_hook(bool, _bool_hook)
        _converter = conv
    return _converter


def _datetime_hook(value: Any, _: Any) -> _dt.datetime:
    parsed = _datetime(value)
    if parsed is None:
        raise ValueError(f"expected an ISO 8601 date-time or epoch seconds, got {value!r}")
    return parsed


def _bool_hook(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected true or false, got {value!r}")


def _datetime(value: Any) -> _dt.datetime | None:
    """An aware date-time from ISO 8601 text or epoch seconds; naive ones are UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    return None


def _body(data: Any) -> bytes:
    return json.dumps(data, default=repr).encode()


def _invalid(what: str, field: str, problem: str, data: Any) -> DecodeError:
    return DecodeError(f"the response is not a valid {what}: {field!r} {problem}", body=_body(data))


def _structure(data: Any, cls: type[T]) -> T:
    """``decoding.structure`` with this module's converter (the one call that names it).

    Raises:
        DecodeError: naming the path of the first bad field.
    """
    return structure(data, cls, conv=_conv())


def _leaf(data: Any, cls: type[T], what: str, field: str, whole: Any) -> T:
    """:func:`_structure` for a field of a hand-decoded shape; a failure names the field's
    whole path (``items[0].bucket``)."""
    try:
        return _structure(data, cls)
    except DecodeError as exc:
        reason = str(exc).partition(": ")[2].replace("@ $", f"@ {field}")
        raise _invalid(what, field, f"is invalid: {reason}", whole) from None


class _Fields:
    """Typed reads of a JSON object's fields; a wrong type raises ``DecodeError`` naming it."""

    def __init__(self, data: Any, what: str) -> None:
        if not isinstance(data, Mapping):
            raise DecodeError(
                f"the response is not a valid {what}: expected a JSON object, "
                f"got {type(data).__name__}",
                body=_body(data),
            )
        self.data: Mapping[str, Any] = data
        self.what = what

    def fail(self, key: str, expected: str) -> DecodeError:
        value = self.data.get(key)
        return _invalid(self.what, key, f"must be {expected}, got {value!r}", self.data)

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def opt_str(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.fail(key, "a string")

    def opt_float(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise self.fail(key, "a number")

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self.fail(key, "an integer")

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        raise self.fail(key, "true or false")

    def opt_mapping(self, key: str) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is None or isinstance(value, Mapping):
            return value
        raise self.fail(key, "a JSON object")

    def array(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        raise self.fail(key, "a list")

    def leaf(self, key: str, cls: type[T]) -> T:
        return _leaf(self.data.get(key), cls, self.what, key, self.data)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


# --- prices ---------------------------------------------------------------------------------


def _amount(value: Any, field: str, whole: Any, what: str = "Price") -> Amount | None:
    """``{"usd": x, "tao": y}`` (or a bare number, read as USD) -> :class:`Amount`."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        usd, tao = value.get("usd"), value.get("tao")
        for currency, amount in (("usd", usd), ("tao", tao)):
            if amount is not None and _number(amount) is None:
                raise _invalid(what, f"{field}.{currency}", f"must be a number: {amount!r}", whole)
        return Amount(usd=_number(usd), tao=_number(tao))
    if _number(value) is not None:
        return Amount(usd=_number(value))
    raise _invalid(what, field, f"must be an object of usd and tao, got {value!r}", whole)


def _range_end(value: Any, end: str) -> float | None:
    """One end of a range given as ``{"min": a, "max": b}`` or ``[a, b]``."""
    if isinstance(value, Mapping):
        return _number(value.get(end))
    if isinstance(value, list) and len(value) == 2:
        return _number(value[0 if end == "min" else 1])
    return _number(value)


def _hourly(data: Mapping[str, Any]) -> tuple[Amount | None, Amount | None]:
    """The hourly range, from ``hourly_price_range`` or the legacy ``usd``/``tao`` ``hour``."""
    found = data.get("hourly_price_range")
    if isinstance(found, Mapping):
        if "min" in found or "max" in found:
            # {"min": {"usd": a, "tao": b}, "max": {...}}
            low = _amount(found.get("min"), "hourly_price_range.min", data)
            high = _amount(found.get("max"), "hourly_price_range.max", data)
            return low, high
        # {"usd": {"min": a, "max": b} | [a, b], "tao": ...}
        usd, tao = found.get("usd"), found.get("tao")
        return (
            Amount(usd=_range_end(usd, "min"), tao=_range_end(tao, "min")),
            Amount(usd=_range_end(usd, "max"), tao=_range_end(tao, "max")),
        )
    # The legacy form the platform still merges in: {"usd": {"hour": x, "second": y}, ...}.
    usd, tao = data.get("usd"), data.get("tao")
    hour_usd = _number(usd.get("hour")) if isinstance(usd, Mapping) else None
    hour_tao = _number(tao.get("hour")) if isinstance(tao, Mapping) else None
    if hour_usd is None and hour_tao is None:
        return None, None
    hourly = Amount(usd=hour_usd, tao=hour_tao)
    return hourly, hourly


def price(data: Any) -> Price:
    """Normalise a chute's ``current_estimated_price``.

    The platform sends ``per_million_tokens: {input: {usd, tao}, output: {usd, tao}}`` for
    LLM chutes, ``per_step: {usd, tao}`` for diffusion, ``per_request``, and an hourly
    price: ``hourly_price_range`` (``{usd: {min, max}, tao: ...}``, ``{usd: [min, max]}``
    or ``{min: {usd, tao}, max: ...}``), or the legacy ``usd: {hour, second}``, ``tao:
    {hour, second}``, read as a range of one value.

    Args:
        data: the parsed ``current_estimated_price`` (``None`` or ``{}`` when absent).

    Returns:
        The :class:`Price`; what the platform did not send is ``None``.

    Raises:
        DecodeError: when a price is not a number or an object of numbers.
    """
    if data is None:
        return Price()
    fields = _Fields(data, "Price")
    tokens = fields.opt_mapping("per_million_tokens") or {}
    low, high = _hourly(fields.data)
    return Price(
        per_million_input=_amount(tokens.get("input"), "per_million_tokens.input", data),
        per_million_output=_amount(tokens.get("output"), "per_million_tokens.output", data),
        per_step=_amount(fields.data.get("per_step"), "per_step", data),
        per_request=_amount(fields.data.get("per_request"), "per_request", data),
        hourly_min=low,
        hourly_max=high,
        raw=fields.data,
    )


# --- chutes ---------------------------------------------------------------------------------


def body_schema(input_schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The flat JSON schema of a cord's request body.

    The platform wraps the body model: ``{"properties": {"input_args": {"$ref":
    "#/definitions/Model"}}, "definitions": {...}}``, while the body on the wire is the
    flat ``Model``. This unwraps ``input_args`` and resolves every ``$ref`` against
    ``definitions`` (or ``$defs``). A ``$ref`` inside its own expansion (a recursive model),
    past 32 levels, or past 1000 expansions in all (models that share sub-models can
    double at every level) stays a ``$ref``, so the result is always small and finite.

    Args:
        input_schema: the cord's ``input_schema`` as the platform sends it.

    Returns:
        The flat schema, or ``None`` when there is none (absent or empty).
    """
    if not isinstance(input_schema, Mapping) or not input_schema:
        return None
    definitions: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        found = input_schema.get(key)
        if isinstance(found, Mapping):
            definitions.update(found)
    target: Any = input_schema
    properties = input_schema.get("properties")
    if isinstance(properties, Mapping) and "input_args" in properties:
        target = properties["input_args"]
    resolved = _resolve(target, definitions, (), [_MAX_EXPANSIONS])
    if not isinstance(resolved, dict):
        return None
    resolved.pop("definitions", None)
    resolved.pop("$defs", None)
    return resolved


def _resolve(
    node: Any, definitions: Mapping[str, Any], seen: tuple[str, ...], budget: list[int]
) -> Any:
    if isinstance(node, list):
        return [_resolve(item, definitions, seen, budget) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rpartition("/")[2]
        local = ref.startswith(("#/definitions/", "#/$defs/"))
        deep = name in seen or len(seen) >= _MAX_REF_DEPTH
        if local and name in definitions and not deep and budget[0] > 0:
            budget[0] -= 1
            expanded = _resolve(definitions[name], definitions, (*seen, name), budget)
            siblings = {
                k: _resolve(v, definitions, seen, budget) for k, v in node.items() if k != "$ref"
            }
            return {**expanded, **siblings} if isinstance(expanded, dict) else expanded
    return {key: _resolve(value, definitions, seen, budget) for key, value in node.items()}


def _cord(data: Any, index: int, whole: Any) -> Cord:
    if not isinstance(data, Mapping):
        raise _invalid(
            "ChuteInfo", f"cords[{index}]", f"must be a JSON object, got {data!r}", whole
        )
    fields = _Fields(data, f"Cord (cords[{index}])")
    method = fields.opt_str("public_api_method") or fields.opt_str("method")
    path = fields.opt_str("public_api_path") or fields.opt_str("path")
    if method is None:
        raise fields.fail("method", "a string")
    if path is None:
        raise fields.fail("path", "a string")
    schema = fields.opt_mapping("input_schema") or None
    return Cord(
        method=method.upper(),
        path=path,
        stream=fields.flag("stream"),
        function=fields.opt_str("function"),
        passthrough=fields.flag("passthrough"),
        output_content_type=fields.opt_str("output_content_type"),
        input_schema=schema,
        body_schema=body_schema(schema),
        raw=data,
    )


def chute_info(data: Any, *, cords: list[Any] | None = None) -> ChuteInfo:
    """A chute from ``GET /chutes/{id_or_name}`` (or an item of the list).

    Args:
        data: the parsed JSON object.
        cords: the cords' JSON to use instead of ``data["cords"]`` (a list item's come
            from ``cord_refs``).

    Returns:
        The :class:`ChuteInfo`. ``hot`` is the platform's own ``hot`` when sent, else
        whether any instance is active and verified (the platform's rule).

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "ChuteInfo")
    instances = fields.leaf("instances", list[Instance]) if fields.data.get("instances") else []
    user = fields.opt_mapping("user") or {}
    owner = user.get("username")
    hot = fields.data.get("hot")
    if not isinstance(hot, bool):
        if hot is not None:
            raise fields.fail("hot", "true or false")
        hot = any(i.active and i.verified for i in instances)
    cord_data = fields.array("cords") if cords is None else cords
    return ChuteInfo(
        chute_id=fields.text("chute_id"),
        name=fields.text("name"),
        slug=fields.opt_str("slug"),
        hot=hot,
        public=fields.flag("public"),
        tee=fields.flag("tee"),
        instances=instances,
        price=price(fields.opt_mapping("current_estimated_price") or None),
        cords=[_cord(item, n, data) for n, item in enumerate(cord_data)],
        template=fields.opt_str("standard_template"),
        owner=owner if isinstance(owner, str) else None,
        concurrency=fields.opt_int("concurrency"),
        max_instances=fields.opt_int("max_instances"),
        raw=fields.data,
    )


def chute_page(data: Any) -> ChutePage:
    """A page of ``GET /chutes/``, each item's cords joined from ``cord_refs``.

    The platform sends each item with ``cords: null`` and a ``cord_ref_id``; the cords
    are ``cord_refs[cord_ref_id]``, shared by identical chutes.

    Args:
        data: the parsed ``{total, page, limit, items, cord_refs}``.

    Returns:
        The :class:`ChutePage` (items, total, page, limit).

    Raises:
        DecodeError: for a wrong shape, or a ``cord_ref_id`` missing from ``cord_refs``.
    """
    fields = _Fields(data, "chute list")
    refs = fields.opt_mapping("cord_refs") or {}
    items = []
    for index, item in enumerate(fields.array("items")):
        cords = None
        if isinstance(item, Mapping) and item.get("cords") is None:
            ref = item.get("cord_ref_id")
            if ref is not None:
                if ref not in refs:
                    raise _invalid(
                        "chute list",
                        f"items[{index}].cord_ref_id",
                        f"{ref!r} is not in cord_refs",
                        data,
                    )
                found = refs[ref]
                cords = list(found) if isinstance(found, list) else []
            else:
                cords = []
        items.append(chute_info(item, cords=cords))
    return ChutePage(items, *_paging(fields, len(items)))


def _paging(fields: _Fields, count: int) -> tuple[int, int, int]:
    """``(total, page, limit)`` of a paged listing; absent numbers describe this page alone."""
    total = fields.opt_int("total")
    page = fields.opt_int("page")
    limit = fields.opt_int("limit")
    return (
        count if total is None else total,
        0 if page is None else page,
        count if limit is None else limit,
    )


def chute_list_params(
    *,
    include_public: bool | None = None,
    template: str | None = None,
    name: str | None = None,
    exclude: str | None = None,
    slug: str | None = None,
    page: int | None = None,
    limit: int | None = None,
    include_schemas: bool | None = None,
) -> dict[str, str]:
    """The query parameters of ``GET /chutes/`` for the options given (others left out).

    Args:
        include_public: with a key, list public chutes as well as your own.
        template: only chutes of this ``standard_template``.
        name: only chutes whose name holds this (case-insensitive).
        exclude: leave out chutes whose name holds this.
        slug: only the chute with this slug.
        page: the page, from 0.
        limit: chutes per page, 1 to 5000.
        include_schemas: keep the cords' schemas (the list strips them by default).

    Returns:
        The parameters as strings (booleans as ``true``/``false``).

    Raises:
        ConfigurationError: for a negative page or a limit outside 1..5000.
    """
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 0):
        raise ConfigurationError(f"page must be an integer >= 0, got {page!r}")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= _MAX_LIST_LIMIT
    ):
        raise ConfigurationError(
            f"limit must be an integer from 1 to {_MAX_LIST_LIMIT}, got {limit!r}"
        )
    given: dict[str, object] = {
        "include_public": include_public,
        "template": template,
        "name": name,
        "exclude": exclude,
        "slug": slug,
        "page": page,
        "limit": limit,
        "include_schemas": include_schemas,
    }
    return {key: _param(value) for key, value in given.items() if value is not None}


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


# --- warm-up --------------------------------------------------------------------------------


def chute_status(data: Any) -> ChuteStatus:
    """The quick warm-up status (``GET /chutes/warmup/{id}?quick=true``).

    Args:
        data: the parsed ``{chute_id, status, instance_count, bounty, instances}``.

    Returns:
        The :class:`ChuteStatus`; ``hot`` is ``status == "hot"``.

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "ChuteStatus")
    status = fields.text("status")
    instances = fields.leaf("instances", list[Instance]) if fields.data.get("instances") else []
    count = fields.opt_int("instance_count")
    bounty = fields.data.get("bounty")
    return ChuteStatus(
        chute_id=fields.text("chute_id"),
        hot=status == "hot",
        status=status,
        instance_count=len(instances) if count is None else count,
        bounty=_number(bounty),
        instances=instances,
        raw=fields.data,
    )


def warmup_event(sse_data_text: str) -> WarmupEvent:
    """One event of the warm-up stream, from its ``data:`` text.

    Args:
        sse_data_text: the event's data, e.g. ``{"status": "cold", "log": "waiting ..."}``.

    Returns:
        The :class:`WarmupEvent`.

    Raises:
        DecodeError: when the data is not JSON or has no string ``status``.
    """
    try:
        data = json.loads(sse_data_text)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(
            f"a warm-up event is not JSON ({exc}): {sse_data_text[:200]!r}",
            body=sse_data_text.encode("utf-8", errors="replace"),
        ) from None
    return _structure(data, WarmupEvent)


def is_cold_start(detail: Any) -> bool:
    """Whether an error ``detail`` is the platform's "no hot instance" (a cold chute).

    Args:
        detail: the error's ``detail`` (text or object).

    Returns:
        True for ``"No instances available (yet) for chute_id=..."``.
    """
    return detail_text(detail).strip().startswith(COLD_START_DETAIL)


# --- account --------------------------------------------------------------------------------


def account_info(data: Any) -> AccountInfo:
    """The account of the key (``GET /users/me``).

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "AccountInfo")
    fields.array("permissions")  # cattrs would read a string as a list of its letters
    return _structure(data, AccountInfo)


def quotas(data: Any) -> list[QuotaRule]:
    """The account's quota rules from ``GET /users/me/quotas``, whichever shape it has.

    The platform answers ``{}`` for free and invoiced accounts (no rules), a list of
    ``{chute_id, quota, is_default, effective_date, ...}`` for accounts with rules, or the
    default mapping ``{"*": 200}`` (``{"*": 0}``: no requests) when none are set.

    Args:
        data: the parsed body.

    Returns:
        The rules (empty for ``{}``); a mapping's rules are marked ``is_default``.

    Raises:
        DecodeError: for any other shape.
    """
    if isinstance(data, list):
        return _leaf(data, list[QuotaRule], "quota list", "items", data)
    if isinstance(data, Mapping):
        rules = []
        for key, value in data.items():
            if _number(value) is None:
                raise _invalid("quota mapping", str(key), f"must be a number, got {value!r}", data)
            rules.append(QuotaRule(chute_id=str(key), quota=float(value), is_default=True))
        return rules
    raise DecodeError(
        f"the response is not a valid quota list: expected a list or an object, "
        f"got {type(data).__name__}",
        body=_body(data),
    )


def quota_usage(data: Any) -> QuotaUsage:
    """Today's use of a chute's quota (``GET /users/me/quota_usage/{chute_id}``).

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "QuotaUsage")
    quota = fields.data.get("quota")
    if quota == "unlimited":
        limit = None
    elif _number(quota) is not None:
        limit = _number(quota)
    else:
        raise fields.fail("quota", "a number or 'unlimited'")
    used = fields.opt_float("used")
    return QuotaUsage(quota=limit, used=0.0 if used is None else used, raw=fields.data)


def subscription(data: Any) -> Subscription:
    """The account's subscription use (``GET /users/me/subscription_usage``).

    Args:
        data: ``{"subscription": false}`` or ``{four_hour: {...}, monthly: {...}}``.

    Returns:
        The :class:`Subscription`; ``active`` is False for the first shape.

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "Subscription")
    if fields.data.get("subscription") is False:
        return Subscription(active=False, raw=fields.data)
    windows = {
        key: fields.leaf(key, SubscriptionWindow) if fields.data.get(key) is not None else None
        for key in ("four_hour", "monthly")
    }
    return Subscription(
        active=True, four_hour=windows["four_hour"], monthly=windows["monthly"], raw=fields.data
    )


def usage_page(data: Any) -> UsagePage:
    """A page of ``GET /users/me/usage``.

    Args:
        data: the parsed ``{total, page, limit, items: [{bucket, amount, count, ...}]}``.

    Returns:
        The :class:`UsagePage` (items, total, page, limit).

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "usage list")
    items = fields.leaf("items", list[UsageBucket]) if fields.data.get("items") else []
    return UsagePage(items, *_paging(fields, len(items)))


def usage_params(
    *,
    start: _dt.date | _dt.datetime | str | None = None,
    end: _dt.date | _dt.datetime | str | None = None,
    per_chute: bool | None = None,
    chute_id: str | None = None,
    page: int | None = None,
    limit: int | None = None,
) -> dict[str, str]:
    """The query parameters of ``GET /users/me/usage`` for the options given.

    Args:
        start: the first bucket (``start_date``).
        end: the last bucket (``end_date``).
        per_chute: one bucket per chute instead of per time only.
        chute_id: only this chute's spending.
        page: the page, from 0.
        limit: buckets per page.

    Returns:
        The parameters as strings (dates in ISO 8601).

    Raises:
        ConfigurationError: for a negative page or a limit below 1.
    """
    for name, number, least in (("page", page, 0), ("limit", limit, 1)):
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or number < least
        ):
            raise ConfigurationError(f"{name} must be an integer >= {least}, got {number!r}")
    given: dict[str, object] = {
        "start_date": start,
        "end_date": end,
        "per_chute": per_chute,
        "chute_id": chute_id,
        "page": page,
        "limit": limit,
    }
    return {key: _param(value) for key, value in given.items() if value is not None}


def pricing(data: Any) -> Pricing:
    """The platform's compute prices (``GET /pricing``).

    Args:
        data: ``{tao_usd, compute_unit_estimate: {usd, tao, description},
            gpu_price_estimates: {gpu: {usd: {hour, second}, tao: {hour, second}}}}``.

    Returns:
        The :class:`Pricing`; each GPU's price is per hour.

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    fields = _Fields(data, "Pricing")
    gpus = fields.opt_mapping("gpu_price_estimates") or {}
    hourly: dict[str, Amount] = {}
    for gpu, entry in gpus.items():
        if not isinstance(entry, Mapping):
            raise _invalid("Pricing", f"gpu_price_estimates.{gpu}", "must be a JSON object", data)
        usd, tao = entry.get("usd"), entry.get("tao")
        hourly[str(gpu)] = Amount(
            usd=_number(usd.get("hour")) if isinstance(usd, Mapping) else _number(usd),
            tao=_number(tao.get("hour")) if isinstance(tao, Mapping) else _number(tao),
        )
    unit = fields.data.get("compute_unit_estimate")
    return Pricing(
        tao_usd=fields.opt_float("tao_usd"),
        compute_unit_estimate=None
        if unit is None
        else _amount(unit, "compute_unit_estimate", data, "Pricing"),
        gpu_price_estimates=hourly,
        raw=fields.data,
    )


# --- the gateway ----------------------------------------------------------------------------


def _model_price(fields: _Fields) -> ModelPrice | None:
    """The platform's ``price: {input: {usd, tao}, output: {usd, tao}}``, else the
    OpenRouter-style ``pricing: {prompt, completion}`` it sends alongside (USD)."""
    found = fields.opt_mapping("price")
    if found is not None:
        low = _amount(found.get("input"), "price.input", fields.data, fields.what) or Amount()
        high = _amount(found.get("output"), "price.output", fields.data, fields.what) or Amount()
        return ModelPrice(
            input_usd=low.usd, output_usd=high.usd, input_tao=low.tao, output_tao=high.tao
        )
    other = fields.opt_mapping("pricing")
    if other is not None:
        return ModelPrice(
            input_usd=_number(other.get("prompt")), output_usd=_number(other.get("completion"))
        )
    return None


def gateway_models(data: Any) -> list[GatewayModel]:
    """The gateway's models with their chutes and prices (``GET /v1/models``).

    Args:
        data: ``{"object": "list", "data": [...]}`` (a bare list is accepted too).

    Returns:
        One :class:`GatewayModel` per item.

    Raises:
        DecodeError: naming the field that is missing or of the wrong type.
    """
    items = data if isinstance(data, list) else _Fields(data, "model list").array("data")
    models = []
    for index, item in enumerate(items):
        fields = _Fields(item, f"GatewayModel (data[{index}])")
        models.append(
            GatewayModel(
                id=fields.text("id"),
                chute_id=fields.opt_str("chute_id"),
                price=_model_price(fields),
                raw=fields.data,
            )
        )
    return models


def estimate_cost_usd(
    tokens_by_model: Mapping[str, tuple[int, int]], prices: Mapping[str, ModelPrice]
) -> float | None:
    """The estimated spend of the tokens used, from the gateway's prices per million tokens.

    Args:
        tokens_by_model: ``(prompt_tokens, completion_tokens)`` per model name.
        prices: each model's :class:`ModelPrice`.

    Returns:
        The spend in USD, or ``None`` when a model that used tokens has no known price.
    """
    total = 0.0
    for model, (prompt, completion) in tokens_by_model.items():
        if not prompt and not completion:
            continue
        found = prices.get(model)
        if found is None:
            return None
        for count, per_million in ((prompt, found.input_usd), (completion, found.output_usd)):
            if count:
                if per_million is None:
                    return None
                total += count * per_million / 1_000_000
    return total


def close_model_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known model names closest to ``name``, best first (for "model not found").

    Names are compared case-insensitively, whole and by their part after the last ``/``
    (``DeepSeek-V3`` is close to ``deepseek-ai/DeepSeek-V3-0324``).

    Args:
        name: the name that was not found.
        known: the names that exist (e.g. from the gateway's ``/v1/models``).
        n: the most suggestions to return.

    Returns:
        Up to ``n`` names from ``known``, in their own spelling; empty when none is close.
    """
    wanted = name.lower()
    wanted_tail = wanted.rpartition("/")[2]
    scored: dict[str, float] = {}
    for candidate in known:
        lowered = candidate.lower()
        tail = lowered.rpartition("/")[2]
        score = max(
            difflib.SequenceMatcher(None, wanted, lowered).ratio(),
            difflib.SequenceMatcher(None, wanted_tail, tail).ratio(),
        )
        if wanted_tail and wanted_tail in tail:
            # A stale name is often the current one without its suffix (``-0324``).
            score = max(score, 0.9 + 0.1 * len(wanted_tail) / len(tail))
        if score >= 0.6:
            scored[candidate] = max(score, scored.get(candidate, 0.0))
    ranked = sorted(scored, key=lambda c: (-scored[c], c))
    return ranked[: max(0, n)]


# --- shown to people (the command line, notebooks) ----------------------------------------

CORD_HEADERS: Final = ("method", "path", "stream", "answers", "body fields")


def price_text(price: Price) -> str:
    """A price in a few words, in USD: ``$0.30/M input tokens, $1.20/M output tokens,
    $1.50/hour``; ``price unknown`` when the platform gave none."""
    parts = []
    for amount, unit in (
        (price.per_million_input, "/M input tokens"),
        (price.per_million_output, "/M output tokens"),
        (price.per_step, "/step"),
        (price.per_request, "/request"),
    ):
        if amount is not None and amount.usd is not None:
            parts.append(f"{usd(amount.usd)}{unit}")
    ends = [a.usd for a in (price.hourly_min, price.hourly_max) if a is not None]
    hourly = sorted({value for value in ends if value is not None})
    if hourly:
        parts.append(" to ".join(usd(value) for value in hourly) + "/hour")
    return ", ".join(parts) or "price unknown"


def status_text(info: ChuteInfo) -> str:
    """``hot, 2 instances`` or ``cold, no instances``."""
    count = len(info.instances)
    instances = "no instances" if not count else f"{count} instance{'s' if count > 1 else ''}"
    return f"{'hot' if info.hot else 'cold'}, {instances}"


def cord_rows(info: ChuteInfo) -> list[tuple[str, str, str, str, str]]:
    """One row per cord, under :data:`CORD_HEADERS`: method, path, whether it streams,
    what it answers (its declared media type), and its body fields (``-`` when the
    platform sent no schema)."""
    return [
        (
            cord.method,
            cord.path,
            "yes" if cord.stream else "no",
            cord.output_content_type or "-",
            ", ".join(f.text() for f in body_fields(cord.body_schema)) or "-",
        )
        for cord in info.cords
    ]


export(__all__, globals())
