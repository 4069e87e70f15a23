"""What each subcommand does, on a blocking :class:`chutes.Client`.

Each command takes the parsed arguments and a :class:`Context`, writes its result to
stdout and everything else to stderr (through the context's console), and returns the
exit code; an error is raised as a :class:`chutes.ChutesError` and reported by ``main``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

import attrs

from .._core.batch import BatchReport
from .._core.config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, ENV_API_KEY
from .._core.display import text_table, usd
from .._core.errors import APIStatusError, ChutesError, ConfigurationError, DecodeError
from .._core.models import Usage
from .._core.platform import (
    CORD_HEADERS,
    TargetRef,
    cord_rows,
    gateway_models,
    parse_target,
    price_text,
    status_text,
)
from .._response import Response
from .._sync.client import Chute, Client
from .console import EXIT_ERROR, EXIT_OK, Console, json_text, log_handler
from .fields import parse_fields
from .settings import GlobalOptions, key_problem, key_source, settings

__all__: list[str] = []

# `-p` names the chat command sets itself, or that are the call's options, not body fields.
_CHAT_OWN: Final = {
    "model": "it is MODEL",
    "messages": "they are made from PROMPT and -s",
    "stream": "use --no-stream",
    "timeout": "use --timeout",
    "max_retries": "use --max-retries",
    "path": "use --url for another server",
    "extra_headers": "headers are not body fields",
}
_DOCTOR_TIMEOUT: Final = 10.0
# A batch stopped by the platform exits as the error that stopped it would (API.md's codes).
_STOP_EXIT: Final = {"payment_required": 4, "daily_limit": 5}
_EXCERPT: Final = 200


@attrs.frozen
class Context:
    """What a command runs with: the console, the global options, stdin, the environment."""

    console: Console
    options: GlobalOptions
    stdin: TextIO
    env: Mapping[str, str]

    def client(self) -> Client:
        """A client from the global options (close it: ``with ctx.client() as client``)."""
        return make_client(self.options)


Command = Callable[[argparse.Namespace, Context], int]


def make_client(options: GlobalOptions) -> Client:
    """A blocking client with the options given; what is not given, the client reads from
    the environment or takes as its default.

    Raises:
        ConfigurationError: when no key is found or an option is invalid.
    """
    return Client(
        api_key=options.api_key,
        api_url=options.api_url,
        llm_url=options.llm_url,
        timeout=DEFAULT_TIMEOUT if options.timeout is None else options.timeout,
        max_retries=DEFAULT_MAX_RETRIES if options.max_retries is None else options.max_retries,
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


# --- chat ----------------------------------------------------------------------------------


def _prompt(given: str | None, stdin: TextIO) -> str:
    if given is not None and given != "-":
        return given
    if given is None and stdin.isatty():
        raise ConfigurationError("give a PROMPT, or '-' or a pipe to read it from stdin")
    text = stdin.read()
    if not text.strip():
        raise ConfigurationError("the prompt read from stdin is empty")
    return text


def _usage_text(usage: Usage | None) -> str:
    if usage is None:
        return "tokens: the server reported no usage"
    return (
        f"tokens: {usage.prompt_tokens} prompt, {usage.completion_tokens} completion, "
        f"{usage.total_tokens} total"
    )


def chat(args: argparse.Namespace, ctx: Context) -> int:
    """``chat MODEL [PROMPT]``: stream the answer's text to stdout as it arrives."""
    body = parse_fields(args.param, "-p")
    for name in body:
        if name in _CHAT_OWN:
            raise ConfigurationError(f"-p {name}: set by the command ({_CHAT_OWN[name]})")
    messages = [{"role": "system", "content": args.system}] if args.system is not None else []
    messages.append({"role": "user", "content": _prompt(args.prompt, ctx.stdin)})
    console = ctx.console
    with ctx.client() as client:
        chute = client.chute(url=args.url) if args.url else client.llm
        completions = chute.chat.completions
        if args.e2ee:
            body["e2ee"] = True
        if args.json or args.no_stream:
            completion = completions.create(model=args.model, messages=messages, **body)
            if args.json:
                console.json(dict(completion.raw))
            else:
                choices = completion.choices
                console.line((choices[0].message.content if choices else None) or "")
            usage = completion.usage
        else:
            with completions.create(
                model=args.model, messages=messages, stream=True, **body
            ) as stream:
                for piece in stream.iter_text():
                    console.write(piece)
                usage = stream.usage
            console.line()
    if args.usage:
        console.note(_usage_text(usage))
    return EXIT_OK


# --- call ----------------------------------------------------------------------------------


def _read_body(source: str, stdin: TextIO) -> Any:
    if source == "-":
        text, where = stdin.read(), "stdin"
    elif source.startswith("@"):
        where = source[1:]
        try:
            text = Path(where).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"--body {source}: cannot read it ({exc})") from None
    else:
        raise ConfigurationError("--body takes @FILE (a JSON file) or - (JSON on stdin)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigurationError(
            f"--body: what was read from {where} is not valid JSON ({exc})"
        ) from None


def _request_options(args: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    fields = parse_fields(args.fields, "field")
    if args.get:
        if args.body is not None:
            raise ConfigurationError("--get sends no body: leave out --body")
        if args.e2ee:
            raise ConfigurationError("--e2ee encrypts a POST's JSON body: leave out --get")
        params = {
            k: v if isinstance(v, str) else json_text(v, pretty=False) for k, v in fields.items()
        }
        return {"params": params} if params else {}
    body: Any = {} if args.body is None else _read_body(args.body, stdin)
    if fields:
        if not isinstance(body, dict):
            raise ConfigurationError("fields can be added only to a --body that is a JSON object")
        body.update(fields)
    return {"json": body, "e2ee": True} if args.e2ee else {"json": body}


def _is_media(content_type: str | None) -> bool:
    """Whether an answer of this type is media to save, not words: text, JSON and XML
    (error pages, error objects, a storage service's XML error) are words; an SVG is an
    image."""
    if not content_type:
        return False
    kind = content_type.split("/", 1)[0]
    words = content_type.endswith(("/json", "+json")) or (
        kind == "application" and content_type.endswith(("/xml", "+xml"))
    )
    return kind != "text" and not words


def _excerpt(data: bytes) -> str:
    text = " ".join(data[:_EXCERPT].decode("utf-8", errors="replace").split())
    return text + ("..." if len(data) > _EXCERPT else "")


def _check_folder(path: Path, option: str) -> None:
    """Refuse a file whose folder does not exist before a call is paid for."""
    if not path.parent.is_dir():
        raise ConfigurationError(f"{option} {path}: the folder {path.parent} does not exist")


def _save_media(chute: Chute, method: str, path: str, options: dict[str, Any], out: str) -> str:
    """Write a media answer to ``out`` (through a temporary file beside it, so a refused or
    failed answer leaves no file) and say what was written."""
    target = Path(out)
    _check_folder(target, "-o")
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        response = chute.request(method, path, save_to=part, **options)
        kind = response.content_type
        size = part.stat().st_size
        if not _is_media(kind) or not size:
            with part.open("rb") as saved:
                data = saved.read(_EXCERPT + 1)
            what = "an empty body" if not size else kind or "no content type"
            raise DecodeError(
                f"the cord answered {what}, not media: nothing was written to {out}"
                + (f" (it said: {_excerpt(data)})" if data else ""),
                body=data[:_EXCERPT],
                content_type=kind,
            )
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    return f"wrote {size} bytes ({kind}) to {out}"


def _show(response: Response, console: Console) -> None:
    kind = response.content_type
    content = response.content
    if not content:
        return
    if kind == "application/json" or (kind or "").endswith("+json"):
        console.json(response.json())
    elif kind is None or kind.startswith("text/"):
        text = response.text
        console.write(text if text.endswith("\n") else f"{text}\n")
    elif console.out_is_tty:
        raise DecodeError(
            f"the answer is {kind} ({len(content)} bytes), not text: give -o FILE to save it, "
            "or pipe it to a program",
            body=b"",
            content_type=kind,
        )
    else:
        out = console.binary()
        out.write(content)
        out.flush()


def call(args: argparse.Namespace, ctx: Context) -> int:
    """``call TARGET PATH [fields]``: call any cord and print (or save) its answer."""
    target = parse_target(args.target)
    options = _request_options(args, ctx.stdin)
    method = "GET" if args.get else "POST"
    console = ctx.console
    with ctx.client() as client:
        chute = client.chute(**target.as_kwargs())
        if args.stream:
            with chute.stream(args.path, method=method, **options) as events:
                for event in events:
                    named = event.event not in (None, "", "message")
                    console.line(f"{event.event}: {event.data}" if named else event.data)
        elif args.output is not None:
            console.note(_save_media(chute, method, args.path, options, args.output))
        else:
            _show(chute.request(method, args.path, **options), console)
    return EXIT_OK


# --- the platform ----------------------------------------------------------------------------


def models(args: argparse.Namespace, ctx: Context) -> int:
    """``models``: the gateway's models and their prices."""
    with ctx.client() as client:
        found = client.llm.models.list()
    if args.json:
        ctx.console.json(dict(found.raw))
        return EXIT_OK
    rows = []
    for model in gateway_models(found.raw):
        price = model.price
        rows.append(
            (
                model.id,
                "-" if price is None or price.input_usd is None else usd(price.input_usd),
                "-" if price is None or price.output_usd is None else usd(price.output_usd),
            )
        )
    ctx.console.line(text_table(("model", "input $/M tokens", "output $/M tokens"), rows))
    return EXIT_OK


def _platform_key(target: TargetRef, command: str) -> dict[str, str]:
    if target.kind == "name":
        return {"name": target.value}
    if target.kind == "id":
        return {"id": target.value}
    raise ConfigurationError(
        f"{command} looks the chute up on the platform: give 'user/name' or 'id:<uuid>', "
        f"not a {target.kind}"
    )


def chute_show(args: argparse.Namespace, ctx: Context) -> int:
    """``chute show TARGET``: a chute's state, price and cords."""
    key = _platform_key(parse_target(args.target), "chute show")
    with ctx.client() as client:
        info = client.chutes.get(**key)
    console = ctx.console
    if args.json:
        console.json(dict(info.raw))
        return EXIT_OK
    facts = [
        ("id", info.chute_id),
        ("slug", info.slug or "-"),
        ("status", status_text(info)),
        ("price", price_text(info.price)),
        ("template", info.template or "-"),
        ("public", "yes" if info.public else "no"),
    ]
    console.line(info.full_name)
    for name, value in facts:
        console.line(f"  {name:<9}{value}")
    console.line()
    if info.cords:
        console.line(text_table(CORD_HEADERS, cord_rows(info)))
    else:
        console.line("no cords listed")
    return EXIT_OK


def warmup(args: argparse.Namespace, ctx: Context) -> int:
    """``warmup TARGET``: warm a chute up and wait until it is hot (``--quick``: just ask)."""
    key = _platform_key(parse_target(args.target), "warmup")
    console = ctx.console
    with ctx.client() as client:
        if args.quick:
            status = client.chutes.status(**key)
            console.line(f"{status.status}, {_count(status.instance_count, 'instance')}")
            return EXIT_OK
        hot = client.chutes.warmup(
            **key,
            timeout=args.wait,
            on_status=lambda event: console.note(f"{event.status}: {event.log or ''}".strip()),
        )
    console.line(f"hot: {hot.log}" if hot.log else "hot")
    return EXIT_OK


def whoami(args: argparse.Namespace, ctx: Context) -> int:
    """``whoami``: the account the key belongs to."""
    with ctx.client() as client:
        me = client.account.me()
    rows = [
        ("username", me.username),
        ("user id", me.user_id),
        ("balance", "-" if me.balance is None else usd(me.balance)),
        ("permissions", ", ".join(me.permissions) or "-"),
    ]
    for name, value in rows:
        ctx.console.line(f"{name:<13}{value}")
    return EXIT_OK


def quota(args: argparse.Namespace, ctx: Context) -> int:
    """``quota``: the account's daily request quotas and today's use of each."""
    with ctx.client() as client:
        rules = client.account.quotas()
        rows = []
        for rule in rules:
            used = client.account.quota_usage(rule.chute_id)
            left = used.remaining
            rows.append(
                (
                    "every chute" if rule.chute_id == "*" else rule.chute_id,
                    f"{rule.quota:g}",
                    f"{used.used:g}",
                    "unlimited" if left is None else f"{left:g}",
                    "yes" if rule.is_default else "no",
                )
            )
    if not rows:
        ctx.console.line("no request quotas (a free or invoiced account)")
        return EXIT_OK
    headers = ("chute", "requests/day", "used today", "remaining", "default")
    ctx.console.line(text_table(headers, rows))
    return EXIT_OK


def usage(args: argparse.Namespace, ctx: Context) -> int:
    """``usage``: the account's spending, bucket by bucket."""
    with ctx.client() as client:
        buckets = client.account.usage()
    if not buckets:
        ctx.console.line("no usage recorded")
        return EXIT_OK

    def tokens(value: int | None) -> str:
        return "-" if value is None else str(value)

    rows = [
        (
            b.bucket.isoformat(),
            usd(b.amount_usd),
            b.count,
            tokens(b.input_tokens),
            tokens(b.output_tokens),
        )
        for b in buckets
    ]
    total = sum(b.amount_usd for b in buckets)
    rows.append(("total", usd(total), sum(b.count for b in buckets), "", ""))
    headers = ("bucket", "amount", "requests", "input tokens", "output tokens")
    ctx.console.line(text_table(headers, rows))
    return EXIT_OK


# --- batch ---------------------------------------------------------------------------------


@attrs.frozen
class _WithModel:
    """A JSONL batch input read with a default model: a line that names none gets ``model``
    (the chat form's own, or its body's in the batch form). Lines keep their editor line
    numbers as ids when they have none, as a path given straight to the runner would."""

    path: Path
    model: str

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as file:
            for number, text in enumerate(file, 1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except ValueError:
                    raise ConfigurationError(f"line {number}: not valid JSON") from None
                if not isinstance(data, dict):
                    yield data  # the runner refuses it, naming the line
                    continue
                data.setdefault("custom_id", str(number))
                body = data.get("body")
                if isinstance(body, dict):
                    body.setdefault("model", self.model)
                elif "messages" in data:
                    data.setdefault("model", self.model)
                yield data


def _progress_logging(console: Console) -> None:
    """Without tqdm (the ``[progress]`` extra) the runner logs its progress at INFO now and
    then: show those lines on stderr."""
    try:
        import tqdm.auto  # noqa: F401 - only whether the runner can draw its bar
    except ImportError:
        pass
    else:
        return
    logger = logging.getLogger("chutes")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
        logger.addHandler(log_handler(console))


def _report_lines(report: BatchReport) -> list[str]:
    usage = report.usage
    found = [
        f"{report.total} requests: {report.succeeded} succeeded, {report.failed} failed, "
        f"{report.skipped} already done, {report.not_started} not started",
        f"tokens: {usage.prompt_tokens} prompt, {usage.completion_tokens} completion, "
        f"{usage.total_tokens} total; estimated cost "
        + ("unknown" if report.cost_usd is None else usd(report.cost_usd)),
    ]
    if report.stopped is not None:
        reset = "" if report.quota_reset is None else f" (resets {report.quota_reset.isoformat()})"
        found.append(f"stopped early ({report.stopped}): {report.stop_message}{reset}")
    found.append(f"results: {report.output}")
    return found


def batch_run(args: argparse.Namespace, ctx: Context) -> int:
    """``batch run IN.jsonl -o OUT.jsonl``: every request of a JSONL file through the
    gateway, results appended to the output as they finish, progress on stderr."""
    source = Path(args.input)
    _check_folder(Path(args.output), "-o")
    requests: Any = args.input if args.model is None else _WithModel(source, args.model)
    retries = ctx.options.max_retries
    _progress_logging(ctx.console)
    with ctx.client() as client:
        report = client.llm.batch.run(
            requests,
            args.output,
            concurrency=args.concurrency,
            rate_limit=args.rpm,
            max_attempts=3 if retries is None else retries + 1,
            resume=args.resume,
            progress=True,
            max_cost_usd=args.max_cost,
        )
    for line in _report_lines(report):
        ctx.console.line(line)
    if report.stopped in _STOP_EXIT:
        return _STOP_EXIT[report.stopped]
    return EXIT_ERROR if report.failed or report.not_started else EXIT_OK


# --- doctor --------------------------------------------------------------------------------


def _check(what: Callable[[], str]) -> tuple[bool, str]:
    start = time.monotonic()
    try:
        found = what()
    except APIStatusError as error:
        return False, f"reachable, but it answered {error.status_code}: {error.message}"
    except ChutesError as error:
        return False, f"not reachable: {type(error).__name__}: {error}"
    return True, f"reachable, {found} ({(time.monotonic() - start) * 1000:.0f} ms)"


def _reachability(options: GlobalOptions, key: str | None) -> list[tuple[str, str, bool]]:
    """Whether the platform API and the gateway answer (each asked once, not retried)."""
    if not key:
        return [("API", "not checked (no key)", False), ("gateway", "not checked (no key)", False)]
    quick = attrs.evolve(options, timeout=options.timeout or _DOCTOR_TIMEOUT, max_retries=0)
    try:
        client = make_client(quick)
    except ConfigurationError as error:
        return [("API", f"not checked: {error}", False), ("gateway", "not checked", False)]
    with client:
        api_ok, api_text = _check(
            lambda: f"prices for {_count(len(client.pricing().gpu_price_estimates), 'GPU')}"
        )
        gateway_ok, gateway_text = _check(
            lambda: _count(len(client.llm.models.list().data), "model")
        )
    return [("API", api_text, api_ok), ("gateway", gateway_text, gateway_ok)]


def doctor(args: argparse.Namespace, ctx: Context) -> int:
    """``doctor``: the key's shape, the settings in effect and whether the platform answers."""
    options, env = ctx.options, ctx.env
    source = key_source(options, env)
    key = options.api_key if options.api_key is not None else env.get(ENV_API_KEY)
    if source is None or not key:
        healthy, key_text = False, "not set: set CHUTES_API_KEY (or pass --api-key)"
    else:
        problem = key_problem(key)
        healthy = problem is None
        shape = "looks like a cpk_ key" if problem is None else f"does not look like one: {problem}"
        key_text = f"set, from {source}, {shape}"
    checks = _reachability(options, key)
    rows = [("API key", key_text)]
    rows += [(s.name, f"{s.value} ({s.source})") for s in settings(options, env)]
    rows += [(name, text) for name, text, _ in checks]
    width = max(len(name) for name, _ in rows) + 2
    for name, text in rows:
        ctx.console.line(f"{name:<{width}}{text}")
    return EXIT_OK if healthy and all(ok for _, _, ok in checks) else EXIT_ERROR
