"""The ``chutes-client`` parser and its entry point.

Global options may stand before the subcommand or after it. With the ``[cli]`` extra
(argcomplete) installed, the parser also answers shell completion; nothing is imported
for it otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Final, NoReturn

from .._core.config import ENV_API_KEY
from .._core.errors import ChutesError
from .._version import __version__
from .console import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, PROG, Console, log_handler
from .fields import FIELD
from .settings import GlobalOptions

__all__ = ["main"]

_DESCRIPTION: Final = (
    "Call chutes (AI apps on chutes.ai) from scripts and terminals: chat with a model, call "
    "any cord, see and warm chutes up, check the account, run batches. Results go to "
    "stdout; progress, usage and errors to stderr."
)
_EPILOG: Final = (
    "exit codes: 0 ok, 1 any other error, 2 bad arguments, 3 key refused (401/403), "
    "4 payment required (402), 5 rate limited (429), 6 no hot instance (503), 7 timeout, "
    "8 connection failed, 130 interrupted"
)
_TARGET_HELP: Final = "a chute: user/name, slug:SLUG, id:UUID, or an http(s) URL"
_E2EE_HELP: Final = (
    "end-to-end encrypted: only the chute's instance sees the prompt and the answer "
    "(needs chutes-client[e2ee])"
)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _whole(minimum: int) -> Any:
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return check


def _add_globals(parser: argparse.ArgumentParser, *, top: bool, own_timeout: bool = False) -> None:
    """The global options; on a subcommand they default to "not given" so that the same
    option before the subcommand is kept."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help="the API key; prefer the CHUTES_API_KEY environment variable, since a key "
        "given here shows in your shell history and in ps",
    )
    group.add_argument(
        "--api-url",
        metavar="URL",
        default=default(None),
        help="the platform API (else CHUTES_API_URL, else https://api.chutes.ai)",
    )
    group.add_argument(
        "--llm-url",
        metavar="URL",
        default=default(None),
        help="the OpenAI-compatible gateway (else CHUTES_LLM_URL, else https://llm.chutes.ai)",
    )
    if not own_timeout:
        group.add_argument(
            "--timeout",
            metavar="S",
            type=_positive,
            default=default(None),
            help="seconds for each phase of a request (connect, read, write); default: "
            "connect 10, read 600",
        )
    group.add_argument(
        "--max-retries",
        metavar="N",
        type=_whole(0),
        default=default(None),
        help="retries of a call that surely did not run (default 2)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log each request to stderr, and show an error's traceback",
    )


def build_parser(console: Console) -> argparse.ArgumentParser:
    """The parser of every subcommand; its messages go through ``console``."""

    class Parser(argparse.ArgumentParser):
        def _print_message(self, message: str, file: Any = None) -> None:
            if message:
                console.emit(message, err=file is not sys.stdout)

        def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
            if message:
                console.emit(message, err=True)
            raise SystemExit(status)

    def leaf(name: str, help: str, func: str, **extra: Any) -> Parser:
        found: Parser = subs.add_parser(
            name, help=help, description=help, allow_abbrev=False, **extra
        )
        found.set_defaults(func=func)
        return found

    parser = Parser(prog=PROG, description=_DESCRIPTION, epilog=_EPILOG, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_globals(parser, top=True)
    subs = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")

    chat = leaf("chat", "chat with a model, streaming its answer to stdout", "chat")
    chat.add_argument("model", metavar="MODEL", help="the model (see `models`)")
    chat.add_argument(
        "prompt", metavar="PROMPT", nargs="?", help="the prompt; '-' or none reads it from stdin"
    )
    chat.add_argument("-s", "--system", metavar="SYSTEM", help="a system prompt")
    chat.add_argument(
        "-p",
        "--param",
        metavar="FIELD",
        action="append",
        default=[],
        help="a body field: key=value (a string) or key:=json (max_tokens:=100); repeatable",
    )
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.add_argument(
        "--json", action="store_true", help="print the completion's JSON (not streamed)"
    )
    chat.add_argument("--usage", action="store_true", help="print the token counts to stderr")
    chat.add_argument(
        "--url", metavar="URL", help="any OpenAI-compatible server instead of the gateway"
    )
    chat.add_argument("--e2ee", action="store_true", help=_E2EE_HELP)

    call = leaf("call", "call any cord of a chute and print or save its answer", "call")
    call.add_argument("target", metavar="TARGET", help=_TARGET_HELP)
    call.add_argument("path", metavar="PATH", help="the cord's path, e.g. /generate")
    call.add_argument(
        "fields",
        metavar="FIELD",
        nargs="*",
        help="a body field: key=value (a string) or key:=json (a JSON value); with --get, "
        "a query parameter",
    )
    call.add_argument(
        "--body", metavar="@FILE|-", help="the JSON body from a file (@body.json) or stdin (-)"
    )
    call.add_argument("--get", action="store_true", help="send GET (default: POST)")
    call.add_argument("--stream", action="store_true", help="print each server-sent event")
    call.add_argument("--e2ee", action="store_true", help=_E2EE_HELP)
    call.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the media answer (image, audio, video) to FILE; an error or a JSON or "
        "text answer is never written",
    )

    models = leaf("models", "list the gateway's models and their prices", "models")
    models.add_argument("--json", action="store_true", help="print the gateway's JSON")

    chute = subs.add_parser(
        "chute", help="look a chute up", description="look a chute up", allow_abbrev=False
    )
    chute_subs = chute.add_subparsers(title="commands", metavar="COMMAND", dest="chute_command")
    chute_subs.required = True
    show_help = "a chute's status, instances, price, and its cords with their body fields"
    show = chute_subs.add_parser("show", help=show_help, description=show_help, allow_abbrev=False)
    show.set_defaults(func="chute_show")
    show.add_argument("target", metavar="TARGET", help="a chute: user/name or id:UUID")
    show.add_argument("--json", action="store_true", help="print the platform's JSON")

    warm = leaf("warmup", "warm a chute up and wait until it is hot", "warmup")
    warm.add_argument("target", metavar="TARGET", help="a chute: user/name or id:UUID")
    warm.add_argument("--quick", action="store_true", help="only say whether it is hot now")
    warm.add_argument(
        "--timeout",
        dest="wait",
        metavar="S",
        type=_positive,
        default=600.0,
        help="the most seconds to wait for it (default 600)",
    )

    leaf("whoami", "the account the key belongs to", "whoami")
    leaf("quota", "the account's daily request quotas and today's use", "quota")
    leaf("usage", "the account's spending", "usage")

    batch = subs.add_parser(
        "batch", help="run many requests", description="run many requests", allow_abbrev=False
    )
    batch_subs = batch.add_subparsers(title="commands", metavar="COMMAND", dest="batch_command")
    batch_subs.required = True
    run_help = (
        "send every request of a JSONL file through the gateway, appending each result to "
        "the output as it finishes, with a progress bar on stderr"
    )
    run = batch_subs.add_parser(
        "run",
        help=run_help,
        description=run_help,
        epilog="a line is {custom_id, method, url, body} (the OpenAI batch form) or "
        "{custom_id, model, messages, ...}; exit 0 when every request succeeded, 1 when "
        "some failed or were not started, 4 or 5 when a 402 or a daily limit stopped the run",
        allow_abbrev=False,
    )
    run.set_defaults(func="batch_run")
    run.add_argument("input", metavar="IN.jsonl", help="the requests, one JSON object a line")
    run.add_argument(
        "-o", "--output", metavar="OUT.jsonl", required=True, help="the results file (JSONL)"
    )
    run.add_argument("--model", metavar="M", help="the model of lines that name none")
    run.add_argument(
        "--concurrency",
        metavar="N",
        type=_whole(1),
        default=8,
        help="the most requests in flight (default 8)",
    )
    run.add_argument(
        "--rpm", metavar="N", type=_positive, help="the most requests started per minute"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue a run into the same output: skip requests already ok there",
    )
    run.add_argument(
        "--max-cost",
        metavar="USD",
        type=_positive,
        help="stop starting requests once the estimated spend reaches this",
    )

    leaf("doctor", "check the key's shape, the settings and the platform's reach", "doctor")

    for action in (chat, call, models, show, warm, run):
        _add_globals(action, top=False, own_timeout=action is warm)
    for name in ("whoami", "quota", "usage", "doctor"):
        _add_globals(subs.choices[name], top=False)
    return parser


def _keys_in(argv: Sequence[str]) -> Iterable[str]:
    """The values given to ``--api-key`` (abbreviations are refused, so only these two
    spellings exist)."""
    for index, arg in enumerate(argv):
        if arg == "--api-key" and index + 1 < len(argv):
            yield argv[index + 1]
        elif arg.startswith("--api-key="):
            yield arg.partition("=")[2]


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    # argcomplete's shell hook sets _ARGCOMPLETE; only then is the optional extra imported.
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def _verbose_logging(console: Console) -> None:
    logger = logging.getLogger("chutes")
    logger.addHandler(log_handler(console))
    logger.setLevel(logging.DEBUG)


def _options(args: argparse.Namespace) -> GlobalOptions:
    return GlobalOptions(
        api_key=args.api_key,
        api_url=args.api_url,
        llm_url=args.llm_url,
        timeout=args.timeout,
        max_retries=args.max_retries,
        verbose=args.verbose,
    )


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    fields = getattr(args, "fields", None)
    # `call T /p a=1 -o out b=2`: fields after an option are fields too.
    if extra and fields is not None and all(FIELD.match(e) for e in extra):
        fields.extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chutes-client`` with ``argv`` (default: the process's arguments).

    Returns:
        The exit code: 0 ok, 2 bad arguments, 3 401/403, 4 402, 5 429, 6 503, 7 timeout,
        8 connection, 1 anything else, 130 on Ctrl-C.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    console = Console(sys.stdout, sys.stderr, [os.environ.get(ENV_API_KEY), *_keys_in(arguments)])
    verbose = False
    try:
        parser = build_parser(console)
        _autocomplete(parser)
        try:
            args = _parse(parser, arguments)
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else EXIT_USAGE
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        options = _options(args)
        verbose = options.verbose
        if verbose:
            _verbose_logging(console)
        # The commands (and httpx with them) load only now: --help, --version and shell
        # completion, which runs the parser at every Tab, stay quick.
        from . import commands

        command: commands.Command = getattr(commands, args.func)
        return command(args, commands.Context(console, options, sys.stdin, os.environ))
    except ChutesError as error:
        return console.error(error, verbose=verbose)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`); nothing more can be said to it, and Python's own
        # flush at exit must not fail on the same pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_ERROR
    except OSError as error:  # a file of the user's: the input, the output, a --body
        return console.error(error, verbose=verbose)
