"""The platform-API half of ``FakeChutes``: chute records and the JSON the API answers.

The shapes are PLATFORM.md's (read from the platform's server code): a chute record, the
paged list with ``cord_refs``, the quick warm-up status and the warm-up event stream's
frames, the account's endpoints and ``/pricing``. These functions only build JSON from the
fake's records; routing, keys, faults and time live in ``_fake``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

__all__ = [
    "CHUTE_NOT_FOUND",
    "DISABLED",
    "GATEWAY_TEMPLATES",
    "WARMUP_POLL_SECONDS",
    "WARMUP_MAX_EVENTS",
    "ChuteRecord",
    "QueryError",
    "chute_json",
    "cold_detail",
    "default_cords",
    "default_pricing",
    "list_page",
    "make_cords",
    "make_instances",
    "model_json",
    "price_json",
    "query_bool",
    "query_datetime",
    "query_int",
    "quick_json",
    "quota_usage_json",
    "usage_json",
    "warmup_frame",
]

CHUTE_NOT_FOUND: Final = "Chute not found, or does not belong to you"
DISABLED: Final = "This chute is currently disabled."
# The platform's warm-up stream checks for instances about every 5 s and gives up after
# 600 s, ending the stream with no failure event (the client must call that a timeout).
WARMUP_POLL_SECONDS: Final = 5.0
WARMUP_MAX_EVENTS: Final = int(600 / WARMUP_POLL_SECONDS)
# A gateway only routes to chutes of its kind (the platform answers "model not found"
# otherwise); chutes without a template are accepted everywhere.
GATEWAY_TEMPLATES: Final[Mapping[str, frozenset[str]]] = {
    "llm": frozenset({"vllm"}),
    "embed": frozenset({"embedding", "tei"}),
    "image": frozenset({"diffusion"}),
}
_STAMP: Final = "2025-01-01T00:00:00Z"
_CORD_KEYS: Final = frozenset(
    {
        "method",
        "path",
        "function",
        "stream",
        "passthrough",
        "public_api_path",
        "public_api_method",
        "input_schema",
        "minimal_input_schema",
        "output_schema",
        "output_content_type",
    }
)
_SCHEMA_KEYS: Final = ("input_schema", "minimal_input_schema", "output_schema")
_HOURLY_USD: Final = 2.0
_LLM_PRICE: Final = (0.1, 0.4)
_STEP_PRICE_USD: Final = 0.0005


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, "::".join(parts)))


class QueryError(ValueError):
    """A query parameter FastAPI would refuse with 422; ``detail`` is its error list."""

    def __init__(self, name: str, value: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.detail = [{"type": kind, "loc": ["query", name], "msg": message, "input": value}]


def query_bool(params: Mapping[str, str], name: str) -> bool | None:
    """A boolean query parameter as FastAPI reads it (``true``/``1``/``yes``/``on``...)."""
    value = params.get(name)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on", "t", "y"):
        return True
    if lowered in ("false", "0", "no", "off", "f", "n"):
        return False
    raise QueryError(name, value, "bool_parsing", "Input should be a valid boolean")


def query_int(params: Mapping[str, str], name: str) -> int | None:
    """An integer query parameter as FastAPI reads it."""
    value = params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise QueryError(name, value, "int_parsing", "Input should be a valid integer") from None


def query_datetime(params: Mapping[str, str], name: str) -> dt.datetime | None:
    """A date or date-time query parameter (naive ones are UTC)."""
    value = params.get(name)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            name, value, "datetime_parsing", "Input should be a valid datetime"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


# --- chute records -------------------------------------------------------------------------


@attrs.define(eq=False)
class ChuteRecord:
    """One chute the fake serves: a platform chute (with a name and id) or a bare address.

    ``hot_at`` is the fake time from which it is hot (``-inf``: hot; ``inf``: never by time);
    ``polls_left`` counts the cold warm-up answers still due before it is hot.
    """

    key: str
    bases: list[str]
    name: str | None = None
    owner: str | None = None
    chute_id: str | None = None
    slug: str | None = None
    public: bool = True
    shared: bool = False
    tee: bool = False
    template: str | None = None
    cords: list[dict[str, Any]] = attrs.field(factory=list)
    instances: list[dict[str, Any]] = attrs.field(factory=list)
    price: dict[str, Any] | None = None
    concurrency: int | None = None
    max_instances: int | None = None
    disabled: bool = False
    hot_at: float = -math.inf
    polls_left: int | None = None
    invocation_count: int = 0
    order: int = 0

    @property
    def full_name(self) -> str | None:
        """``owner/name`` for platform chutes."""
        return None if self.name is None else f"{self.owner}/{self.name}"

    def served(self) -> set[tuple[str, str]]:
        """The (method, path) pairs its declared cords answer; empty: every built-in route."""
        return {_public(cord) for cord in self.cords}


def _public(cord: Mapping[str, Any]) -> tuple[str, str]:
    method = cord.get("public_api_method") or cord["method"]
    path = cord.get("public_api_path") or cord["path"]
    return str(method).upper(), "/" + str(path).lstrip("/")


def _cord(
    function: str,
    path: str,
    *,
    public: str | None = None,
    stream: bool = False,
    method: str = "POST",
    passthrough: bool = False,
    output_content_type: str | None = None,
) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "function": function,
        "stream": stream,
        "passthrough": passthrough,
        "public_api_path": public,
        "public_api_method": method if public else None,
        "input_schema": {},
        "minimal_input_schema": {},
        "output_schema": {},
        "output_content_type": output_content_type,
    }


def default_cords(template: str | None) -> list[dict[str, Any]]:
    """The cords the platform's standard templates give a chute."""
    if template == "vllm":
        # Two cords per public path, streamed and not, as real LLM chutes have.
        return [
            _cord(
                "chat_stream",
                "/chat_stream",
                public="/v1/chat/completions",
                stream=True,
                passthrough=True,
            ),
            _cord("chat", "/chat", public="/v1/chat/completions", passthrough=True),
            _cord(
                "completion_stream",
                "/completion_stream",
                public="/v1/completions",
                stream=True,
                passthrough=True,
            ),
            _cord("completion", "/completion", public="/v1/completions", passthrough=True),
            _cord("get_models", "/get_models", public="/v1/models", method="GET", passthrough=True),
        ]
    if template == "diffusion":
        return [_cord("generate", "/generate", output_content_type="image/png")]
    if template in ("embedding", "tei"):
        return [_cord("embeddings", "/embeddings", public="/v1/embeddings", passthrough=True)]
    return []


def _wrap_schema(schema: Mapping[str, Any], function: str) -> dict[str, Any]:
    """The platform's form of a body schema: the model under ``input_args``, by ``$ref``."""
    if not schema:
        return {}
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and "input_args" in properties:
        return copy.deepcopy(dict(schema))
    flat = {k: copy.deepcopy(v) for k, v in schema.items() if k not in ("definitions", "$defs")}
    definitions = copy.deepcopy(dict(schema.get("definitions") or {}))
    name = str(flat.get("title") or "InputArgs")
    while name in definitions:  # ends: each turn makes a name longer than every key
        name += "_"
    definitions[name] = flat
    wrapped: dict[str, Any] = {
        "title": f"{function}Args",
        "type": "object",
        "properties": {"input_args": {"$ref": f"#/definitions/{name}"}},
        "required": ["input_args"],
        "definitions": definitions,
    }
    if "$defs" in schema:
        wrapped["$defs"] = copy.deepcopy(schema["$defs"])
    return wrapped


def make_cords(cords: Iterable[Any] | None, template: str | None) -> list[dict[str, Any]]:
    """Cords in the platform's shape, from simple descriptions.

    A cord is a path (``"/speak"``: POST, JSON) or a dict with any of ``method``, ``path``,
    ``public_api_path``, ``public_api_method``, ``function``, ``stream``, ``passthrough``,
    ``output_content_type`` and ``input_schema`` (the flat body schema, or the platform's
    ``input_args`` form). ``None`` gives the template's cords.

    Raises:
        ValueError: for a cord without a path or with an unknown key.
    """
    if cords is None:
        return default_cords(template)
    made = []
    for item in cords:
        spec: Mapping[str, Any] = {"path": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping) or not isinstance(spec.get("path"), str):
            raise ValueError(f"a cord is a path or a dict with a 'path', got {item!r}")
        unknown = set(spec) - _CORD_KEYS
        if unknown:
            raise ValueError(f"unknown cord keys {sorted(unknown)}; known: {sorted(_CORD_KEYS)}")
        path = "/" + spec["path"].lstrip("/")
        function = spec.get("function") or path.strip("/").replace("/", "_") or "root"
        cord = _cord(function, path)
        cord.update({k: copy.deepcopy(v) for k, v in spec.items() if v is not None})
        cord["path"] = path
        cord["method"] = str(cord["method"]).upper()
        cord["input_schema"] = _wrap_schema(cord.get("input_schema") or {}, function)
        made.append(cord)
    return made


def make_instances(
    chute_id: str, instances: int | Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The instances a hot chute has: ``n`` made up, or the dicts given (defaults filled)."""
    if instances is None:
        instances = 1
    given = [{}] * instances if isinstance(instances, int) else list(instances)
    made = []
    for index, extra in enumerate(given):
        instance = {
            "instance_id": _uuid(chute_id, "instance", str(index)),
            "region": "us-east-1",
            "active": True,
            "verified": True,
            "last_verified_at": _STAMP,
            "gpu_count": 1,
            "gpu_model_name": "h100",
        }
        instance.update(extra)
        made.append(instance)
    return made


def price_json(
    template: str | None, tao_usd: float, per_million: tuple[float, float] | None = None
) -> dict[str, Any]:
    """A ``current_estimated_price`` like the platform's for the template.

    LLM chutes get ``per_million_tokens``, diffusion chutes ``per_step``; every chute also
    gets the legacy hourly ``usd``/``tao`` the platform merges in.
    """
    found: dict[str, Any] = {}
    if template == "vllm":
        price_in, price_out = per_million or _LLM_PRICE
        found["per_million_tokens"] = {
            "input": {"usd": price_in, "tao": price_in / tao_usd},
            "output": {"usd": price_out, "tao": price_out / tao_usd},
        }
    elif template == "diffusion":
        found["per_step"] = {"usd": _STEP_PRICE_USD, "tao": _STEP_PRICE_USD / tao_usd}
    found["usd"] = {"hour": _HOURLY_USD, "second": _HOURLY_USD / 3600}
    found["tao"] = {"hour": _HOURLY_USD / tao_usd, "second": _HOURLY_USD / tao_usd / 3600}
    return found


def _strip(cords: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in cord.items() if k not in _SCHEMA_KEYS} for cord in cords]


def chute_json(
    chute: ChuteRecord, *, hot: bool, price: Mapping[str, Any], include_cords: bool = True
) -> dict[str, Any]:
    """A chute as ``GET /chutes/{id_or_name}`` answers it."""
    assert chute.chute_id is not None
    assert chute.owner is not None
    instances = [
        {k: i[k] for k in ("instance_id", "region", "active", "verified", "last_verified_at")}
        for i in (chute.instances if hot else [])
    ]
    return {
        "chute_id": chute.chute_id,
        "name": chute.name,
        "tagline": "",
        "readme": "",
        "public": chute.public,
        "version": "1",
        "tool_description": None,
        "slug": chute.slug,
        "standard_template": chute.template,
        "cords": copy.deepcopy(chute.cords) if include_cords else None,
        "jobs": [],
        "cord_ref_id": None,
        "created_at": _STAMP,
        "updated_at": _STAMP,
        "user": {
            "username": chute.owner,
            "user_id": _uuid(chute.owner),
            "logo_id": None,
            "created_at": _STAMP,
            "logo": None,
        },
        "supported_gpus": ["h100"],
        "node_selector": {"gpu_count": 1, "supported_gpus": ["h100"], "compute_multiplier": 1.0},
        "invocation_count": chute.invocation_count,
        "current_estimated_price": copy.deepcopy(dict(price)),
        "instances": instances,
        "logo_id": None,
        "openrouter": False,
        "chutes_version": "0.3.0",
        "revision": None,
        "concurrency": chute.concurrency,
        "boost": None,
        "max_instances": chute.max_instances,
        "scaling_threshold": None,
        "shutdown_after_seconds": 300,
        "preemptible": False,
        "logo": None,
        "hot": hot,
        "tee": chute.tee,
        "bounty": None if hot else 100,
    }


def list_page(
    items: Sequence[tuple[ChuteRecord, bool, Mapping[str, Any]]],
    *,
    total: int,
    page: int,
    limit: int,
    include_schemas: bool,
) -> dict[str, Any]:
    """A ``GET /chutes/`` page: items with ``cords: null`` and a ``cord_ref_id`` into
    ``cord_refs``, shared by identical cords; schemas stripped unless asked for."""
    cord_refs: dict[str, list[dict[str, Any]]] = {}
    answered = []
    for chute, hot, price in items:
        item = chute_json(chute, hot=hot, price=price, include_cords=False)
        ref = _uuid(json.dumps(chute.cords, sort_keys=True))
        if ref not in cord_refs:
            cords = copy.deepcopy(chute.cords)
            cord_refs[ref] = cords if include_schemas else _strip(cords)
        item["cord_ref_id"] = ref
        answered.append(item)
    return {"total": total, "page": page, "limit": limit, "items": answered, "cord_refs": cord_refs}


def quick_json(chute: ChuteRecord, *, hot: bool) -> dict[str, Any]:
    """The quick warm-up status (``?quick=true``)."""
    instances = [
        {k: i[k] for k in ("instance_id", "active", "gpu_count", "gpu_model_name")}
        for i in (chute.instances if hot else [])
    ]
    return {
        "chute_id": chute.chute_id,
        "status": "hot" if hot else "cold",
        "instance_count": len(instances),
        "bounty": None if hot else 100,
        "instances": instances,
    }


def warmup_frame(*, hot: bool, instance_count: int = 0) -> bytes:
    """One frame of the warm-up event stream, worded as the platform words it."""
    if hot:
        event = {"status": "hot", "log": f"chute is hot, {instance_count} instances available"}
    else:
        event = {"status": "cold", "log": "waiting for instances ..."}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def cold_detail(chute_id: str | None) -> str:
    """The platform's 503 detail for a chute with no hot instance."""
    return f"No instances available (yet) for chute_id='{chute_id or 'unknown'}'"


# --- the gateway ----------------------------------------------------------------------------


def model_json(
    model: str, chute: ChuteRecord, price: tuple[float, float] | None, tao_usd: float
) -> dict[str, Any]:
    """A gateway ``/v1/models`` item, with the platform's ``price`` and ``pricing``."""
    item: dict[str, Any] = {
        "id": model,
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "vllm",
        "root": model,
        "parent": None,
        "max_model_len": 32768,
        "chute_id": chute.chute_id,
    }
    if price is not None:
        price_in, price_out = price
        item["price"] = {
            "input": {"usd": price_in, "tao": price_in / tao_usd},
            "output": {"usd": price_out, "tao": price_out / tao_usd},
        }
        item["pricing"] = {"prompt": price_in, "completion": price_out}
    item["confidential_compute"] = chute.tee
    return item


# --- the account ----------------------------------------------------------------------------


def default_pricing(tao_usd: float = 400.0) -> dict[str, Any]:
    """A ``GET /pricing`` answer in the platform's shape."""
    gpus = {"h100": 2.0, "h200": 2.5, "a100": 1.2, "l40s": 0.8, "a6000": 0.5}
    unit_usd = gpus["a6000"] / 3600
    return {
        "tao_usd": tao_usd,
        "compute_unit_estimate": {
            "usd": unit_usd,
            "tao": unit_usd / tao_usd,
            "description": "a single compute unit is considered one second of compute time "
            "on the 'worst' currently supported GPU",
        },
        "gpu_price_estimates": {
            gpu: {
                "usd": {"hour": hourly, "second": hourly / 3600},
                "tao": {"hour": hourly / tao_usd, "second": hourly / tao_usd / 3600},
            }
            for gpu, hourly in gpus.items()
        },
    }


def quota_usage_json(quotas: Any, chute_id: str, calls: Mapping[str, int]) -> dict[str, Any]:
    """``/users/me/quota_usage/{chute_id}``: the chute's own rule, else the ``*`` rule.

    Free and invoiced accounts (quotas ``{}``) are unlimited. A chute with a rule of its own
    counts its own calls today; the ``*`` rule counts every call.
    """
    if isinstance(quotas, Mapping) and not quotas:
        return {"quota": "unlimited", "used": 0}
    rules: dict[str, Any] = {}
    if isinstance(quotas, Mapping):
        rules = dict(quotas)
    elif isinstance(quotas, list):
        rules = {str(r.get("chute_id")): r.get("quota") for r in quotas if isinstance(r, Mapping)}
    if chute_id in rules:
        return {"quota": rules[chute_id], "used": float(calls.get(chute_id, 0))}
    return {"quota": rules.get("*", 200), "used": float(sum(calls.values()))}


def usage_json(buckets: Iterable[Mapping[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
    """``/users/me/usage``: buckets filtered, summed per bucket (or kept per chute), paged.

    Raises:
        QueryError: for a parameter FastAPI would refuse.
    """
    page = query_int(params, "page") or 0
    limit = query_int(params, "limit")
    limit = 24 if limit is None else limit
    per_chute = query_bool(params, "per_chute") or False
    chute_id = params.get("chute_id")
    start = query_datetime(params, "start_date")
    end = query_datetime(params, "end_date")
    chosen = []
    for bucket in buckets:
        when = dt.datetime.fromisoformat(str(bucket["bucket"]).replace("Z", "+00:00"))
        when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
        if chute_id and bucket.get("chute_id") != chute_id:
            continue
        if (start and when < start) or (end and when > end):
            continue
        chosen.append((when, bucket))
    fields = ("amount", "count", "input_tokens", "output_tokens")
    items: list[dict[str, Any]]
    if per_chute:
        chosen.sort(key=lambda pair: (pair[0], pair[1].get("amount", 0)), reverse=True)
        items = [
            {
                "bucket": b["bucket"],
                "chute_id": b.get("chute_id"),
                **{f: b.get(f, 0) for f in fields},
            }
            for _, b in chosen
        ]
    else:
        summed: dict[dt.datetime, dict[str, Any]] = {}
        for when, b in chosen:
            row = summed.setdefault(when, {"bucket": b["bucket"], **dict.fromkeys(fields, 0)})
            for f in fields:
                row[f] += b.get(f, 0)
        items = [summed[when] for when in sorted(summed, reverse=True)]
    return {
        "total": len(items),
        "page": page,
        "limit": limit,
        "items": items[page * limit : (page + 1) * limit] if limit > 0 else [],
    }
