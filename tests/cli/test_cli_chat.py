"""``chutes-client chat`` in a subprocess: streamed text, stdin prompts, typed fields, usage,
``--url`` and the gateway of the platform server."""

from __future__ import annotations

import json

import pytest
from clirun import FaultServer, Platform, lines, run_cli

MODEL = "deepseek-ai/DeepSeek-V3"
UNUSED = "http://127.0.0.1:9"  # the discard port: nothing on this machine answers there


def chat(fault: FaultServer, *args: str, **options: object):  # type: ignore[no-untyped-def]
    """``chat`` against the fault server as the gateway."""
    return run_cli("--llm-url", fault.url, "chat", *args, **options)  # type: ignore[arg-type]


def usage_frame(prompt: int, completion: int) -> bytes:
    """A usage-only chunk, as a streamed chat ends when asked for usage."""
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_chat_streams_the_text_to_stdout(fault: FaultServer) -> None:
    """The pieces of a streamed answer reach stdout joined, then a newline; stderr is quiet."""
    fault.queue(fault.chat_stream(["Hel", "lo, ", "world"]))
    result = chat(fault, MODEL, "Say hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, world\n"
    assert result.stderr == ""


def test_chat_sends_a_streamed_request_with_the_prompt(fault: FaultServer) -> None:
    """The request names the model, streams, and carries the prompt as the user message."""
    fault.queue(fault.chat_stream(["ok"]))
    assert chat(fault, MODEL, "Say hello").returncode == 0
    body = fault.requests[-1].json()
    assert fault.requests[-1].path == "/v1/chat/completions"
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]


def test_system_prompt_comes_first(fault: FaultServer) -> None:
    """``-s`` adds a system message before the user's."""
    fault.queue(fault.chat_stream(["ok"]))
    assert chat(fault, MODEL, "hi", "-s", "Be brief.").returncode == 0
    assert fault.requests[-1].json()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_prompt_dash_reads_stdin(fault: FaultServer) -> None:
    """PROMPT ``-`` reads the whole prompt from stdin, newlines kept."""
    fault.queue(fault.chat_stream(["4"]))
    result = chat(fault, MODEL, "-", input="What is\n2 + 2?\n")
    assert result.returncode == 0, result.stderr
    assert fault.requests[-1].json()["messages"][-1]["content"] == "What is\n2 + 2?\n"


def test_piped_stdin_is_the_prompt_when_none_is_given(fault: FaultServer) -> None:
    """With no PROMPT, a piped stdin is the prompt."""
    fault.queue(fault.chat_stream(["ok"]))
    result = chat(fault, MODEL, input="piped question")
    assert result.returncode == 0, result.stderr
    assert fault.requests[-1].json()["messages"][-1]["content"] == "piped question"


def test_an_empty_stdin_is_a_bad_argument(fault: FaultServer) -> None:
    """An empty prompt from stdin exits 2 before any request."""
    result = chat(fault, MODEL, "-", input="  \n")
    assert result.returncode == 2
    assert "empty" in result.stderr
    assert fault.count() == 0


def test_typed_fields_reach_the_body_with_their_types(fault: FaultServer) -> None:
    """``key=value`` sends a string, ``key:=json`` the JSON value (number, bool, object)."""
    fault.queue(fault.chat_stream(["ok"]))
    result = chat(
        fault,
        MODEL,
        "hi",
        "-p",
        "temperature:=0.25",
        "-p",
        "max_tokens:=64",
        "-p",
        "stop=END",
        "-p",
        "logprobs:=true",
        "-p",
        'logit_bias:={"50256": -100}',
        "-p",
        "user=42",
    )
    assert result.returncode == 0, result.stderr
    body = fault.requests[-1].json()
    assert body["temperature"] == 0.25
    assert body["max_tokens"] == 64
    assert body["stop"] == "END"
    assert body["logprobs"] is True
    assert body["logit_bias"] == {"50256": -100}
    assert body["user"] == "42"


@pytest.mark.parametrize(
    ("field", "named"),
    [
        pytest.param("max_tokens:=lots", "max_tokens", id="bad-json"),
        pytest.param("no-equals-sign", "no-equals-sign", id="no-equals"),
        pytest.param("=value", "expected key=value", id="no-name"),
        pytest.param("model=other", "model", id="set-by-the-command"),
        pytest.param("timeout:=5", "--timeout", id="an-option-not-a-field"),
    ],
)
def test_a_bad_field_exits_2_naming_it(fault: FaultServer, field: str, named: str) -> None:
    """A field that is not ``key=value`` / ``key:=json``, or one the command owns, exits 2
    with one line naming it, and nothing is sent."""
    result = chat(fault, MODEL, "hi", "-p", field)
    assert result.returncode == 2
    assert named in result.stderr
    assert len(lines(result.stderr)) == 1
    assert fault.count() == 0


def test_no_stream_prints_the_whole_answer(fault: FaultServer) -> None:
    """``--no-stream`` asks for one JSON answer and prints its text."""
    fault.queue(fault.ok(fault.chat_body("the whole answer")))
    result = chat(fault, MODEL, "hi", "--no-stream")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the whole answer\n"
    assert "stream" not in fault.requests[-1].json()


def test_json_prints_the_completion(fault: FaultServer) -> None:
    """``--json`` prints the server's completion JSON (compact when piped)."""
    body = fault.chat_body("as JSON")
    fault.queue(fault.ok(body))
    result = chat(fault, MODEL, "hi", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == body
    assert len(lines(result.stdout)) == 1


def test_usage_goes_to_stderr_after_a_stream(fault: FaultServer) -> None:
    """``--usage`` prints the stream's token counts to stderr; stdout holds only the text."""
    frames = [fault.chat_frame("hi"), fault.chat_frame(finish="stop"), usage_frame(7, 2)]
    fault.queue(fault.sse([*frames, fault.done_frame]))
    result = chat(fault, MODEL, "hi", "--usage")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"
    assert result.stderr == "tokens: 7 prompt, 2 completion, 9 total\n"


def test_usage_without_a_stream(fault: FaultServer) -> None:
    """``--usage`` with ``--no-stream`` prints the answer's token counts."""
    fault.queue(fault.ok(fault.chat_body("x")))
    result = chat(fault, MODEL, "hi", "--no-stream", "--usage")
    assert result.stderr == "tokens: 1 prompt, 1 completion, 2 total\n"


def test_url_points_at_any_openai_compatible_server(fault: FaultServer) -> None:
    """``--url`` sends the chat to that server instead of the gateway."""
    fault.queue(fault.chat_stream(["from elsewhere"]))
    result = run_cli("--llm-url", UNUSED, "chat", MODEL, "hi", "--url", fault.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from elsewhere\n"
    assert fault.requests[-1].path == "/v1/chat/completions"


def test_chat_on_the_platform_gateway(platform: Platform) -> None:
    """Against the platform server's gateway, the model's chute answers."""
    result = platform.run("chat", MODEL, "hi", "--no-stream")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello from the socket server.\n"


def test_an_unknown_model_is_one_line_naming_it(platform: Platform) -> None:
    """The gateway's 404 "model not found" exits 1 with one line naming the model."""
    result = platform.run("chat", "nobody/nothing", "hi", "--no-stream")
    assert result.returncode == 1
    assert lines(result.stderr) == [result.stderr.strip()]
    assert "ModelNotFoundError (404): model not found: nobody/nothing" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_inside_the_stream_keeps_the_text_and_exits_1(fault: FaultServer) -> None:
    """The platform's raw error line mid-stream: the text so far stays on stdout, one
    StreamError line with the server's words goes to stderr, exit 1."""
    frames = [fault.chat_frame("so far"), b'{"error": "the instance went away"}']
    fault.queue(fault.sse(frames, ending="end-close"))
    result = chat(fault, MODEL, "hi")
    assert result.returncode == 1
    assert result.stdout == "so far"
    assert lines(result.stderr) == [result.stderr.strip()]
    assert "StreamError" in result.stderr
    assert "the instance went away" in result.stderr
