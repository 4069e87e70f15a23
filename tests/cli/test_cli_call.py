"""``chutes-client call`` in a subprocess: typed fields, bodies, GET, events, JSON output,
and ``-o`` writing media but never an error page or a JSON or text answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from clirun import FaultServer, Platform, cli_command, cli_env, lines, run_cli
from platform_server import platform_id

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"


def call(fault: FaultServer, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """``call <fault server> ARGS``."""
    return run_cli("call", fault.url, *args, **options)  # type: ignore[arg-type]


def test_fields_make_a_typed_json_body(fault: FaultServer) -> None:
    """Fields become the JSON body: strings, numbers, booleans, lists, null."""
    result = call(
        fault, "/generate", "prompt=a fox", "steps:=25", "hd:=true", "tags:=[1, 2]", "seed:=null"
    )
    assert result.returncode == 0, result.stderr
    request = fault.requests[-1]
    assert (request.method, request.path) == ("POST", "/generate")
    assert request.json() == {
        "prompt": "a fox",
        "steps": 25,
        "hd": True,
        "tags": [1, 2],
        "seed": None,
    }


def test_fields_may_follow_options(fault: FaultServer, tmp_path: Path) -> None:
    """Fields after an option (``a=1 -o FILE b=2``) are fields too."""
    fault.queue(fault.respond(200, WAV, content_type="audio/wav"))
    out = tmp_path / "x.wav"
    result = call(fault, "/speak", "text=hi", "-o", str(out), "voice=af")
    assert result.returncode == 0, result.stderr
    assert fault.requests[-1].json() == {"text": "hi", "voice": "af"}


def test_no_fields_send_an_empty_object(fault: FaultServer) -> None:
    """A POST with no fields sends ``{}`` (cords take JSON object bodies)."""
    assert call(fault, "/run").returncode == 0
    assert fault.requests[-1].json() == {}


def test_body_from_a_file_with_fields_over_it(fault: FaultServer, tmp_path: Path) -> None:
    """``--body @file.json`` is the body; fields set keys over it."""
    source = tmp_path / "body.json"
    source.write_text(json.dumps({"prompt": "from the file", "steps": 10}))
    result = call(fault, "/generate", "--body", f"@{source}", "steps:=30")
    assert result.returncode == 0, result.stderr
    assert fault.requests[-1].json() == {"prompt": "from the file", "steps": 30}


def test_body_from_stdin(fault: FaultServer) -> None:
    """``--body -`` reads the JSON body from stdin."""
    result = call(fault, "/generate", "--body", "-", input='{"prompt": "piped"}')
    assert result.returncode == 0, result.stderr
    assert fault.requests[-1].json() == {"prompt": "piped"}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["--body", "-"], "--body", id="body-not-json"),
        pytest.param(["--body", "@/nonexistent/body.json"], "cannot read", id="body-missing"),
        pytest.param(["--body", "body.json"], "@FILE", id="body-without-at"),
        pytest.param(["--get", "--body", "-"], "--get", id="get-with-body"),
        pytest.param(["n:=[1,"], "n:=", id="field-not-json"),
    ],
)
def test_bad_bodies_exit_2(fault: FaultServer, args: list[str], named: str) -> None:
    """A body that cannot be read or is not JSON, or a body with ``--get``, exits 2 with a
    line naming the problem; nothing is sent."""
    result = call(fault, "/generate", *args, input="not json")
    assert result.returncode == 2
    assert named in result.stderr
    assert fault.count() == 0


def test_get_sends_fields_as_the_query(fault: FaultServer) -> None:
    """``--get`` sends GET with the fields as query parameters (JSON values as JSON text)."""
    result = call(fault, "/status", "--get", "verbose=yes", "n:=3")
    assert result.returncode == 0, result.stderr
    request = fault.requests[-1]
    url = urlsplit(request.path)
    assert (request.method, url.path) == ("GET", "/status")
    assert dict(parse_qsl(url.query)) == {"verbose": "yes", "n": "3"}
    assert request.body == b""


def test_json_is_compact_when_piped(fault: FaultServer) -> None:
    """A JSON answer prints on one compact line when stdout is a pipe."""
    fault.queue(fault.ok({"a": 1, "b": [1, 2], "text": "é"}))
    result = call(fault, "/run")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"a":1,"b":[1,2],"text":"é"}\n'


def test_text_answers_print_as_text(fault: FaultServer) -> None:
    """A ``text/plain`` answer prints as it is, with a final newline."""
    fault.queue(fault.respond(200, b"plain words", content_type="text/plain"))
    result = call(fault, "/run")
    assert result.stdout == "plain words\n"


def test_media_piped_to_stdout_is_written_as_bytes(fault: FaultServer) -> None:
    """Without ``-o``, media piped to another program is written to stdout as is."""
    fault.queue(fault.respond(200, WAV, content_type="audio/wav"))
    done = subprocess.run(  # noqa: S603 - our own interpreter and package
        cli_command("call", fault.url, "/speak", "text=hi"),
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == WAV


def test_stream_prints_each_event(fault: FaultServer) -> None:
    """``--stream`` prints each event's data on its own line, a named event with its name."""
    frames = [b'data: {"step": 1}\n\n', b"event: progress\ndata: 50%\n\n", b"data: done\n\n"]
    fault.queue(fault.sse(frames))
    result = call(fault, "/run_stream", "--stream", "prompt=x")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"step": 1}\nprogress: 50%\ndone\n'
    assert fault.requests[-1].json() == {"prompt": "x"}


# --- -o FILE -----------------------------------------------------------------------------


def test_output_writes_media_bytes(platform: Platform, tmp_path: Path) -> None:
    """``-o`` writes the chute's audio answer to the file, byte for byte, and says so."""
    out = tmp_path / "hello.wav"
    result = run_cli("call", platform.tts, "/speak", "text=hello", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b"RIFF....WAVE"
    assert result.stdout == ""
    assert f"wrote 12 bytes (audio/wav) to {out}" in result.stderr
    assert list(tmp_path.iterdir()) == [out]


def test_output_writes_an_svg_image(fault: FaultServer, tmp_path: Path) -> None:
    """An SVG is an image (XML inside, but ``image/svg+xml``): written."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    fault.queue(fault.respond(200, svg, content_type="image/svg+xml"))
    out = tmp_path / "x.svg"
    result = call(fault, "/draw", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == svg


def test_output_through_a_chute_id(platform: Platform, tmp_path: Path) -> None:
    """``id:UUID`` reaches the chute through the platform API's ``/chutes/{id}/...``."""
    out = tmp_path / "hello.wav"
    target = f"id:{platform_id('myuser/tts')}"
    result = platform.run("call", target, "/speak", "text=hello", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == b"RIFF....WAVE"
    assert platform.server.seen[-1][2] == f"/chutes/{platform_id('myuser/tts')}/speak"
    assert json.loads(platform.server.seen[-1][3]) == {"text": "hello"}


@pytest.mark.parametrize(
    ("answer", "says", "code"),
    [
        pytest.param(
            lambda f: f.html(502, "502 Bad Gateway"), "InternalServerError (502)", 1, id="html-502"
        ),
        pytest.param(lambda f: f.status(503, "No instances available"), "(503)", 6, id="json-503"),
        pytest.param(
            lambda f: f.ok({"error": "NSFW prompt"}), "application/json, not media", 1, id="json"
        ),
        pytest.param(
            lambda f: f.respond(200, b"<html>oops</html>", content_type="text/html"),
            "text/html, not media",
            1,
            id="html-200",
        ),
        pytest.param(
            lambda f: f.respond(200, b"", content_type="audio/wav"), "an empty body", 1, id="empty"
        ),
        pytest.param(
            lambda f: f.respond(
                200, b"<Error>AccessDenied</Error>", content_type="application/xml"
            ),
            "application/xml, not media",
            1,
            id="xml",
        ),
    ],
)
def test_output_never_writes_an_error_or_a_non_media_answer(
    fault: FaultServer, tmp_path: Path, answer, says: str, code: int
) -> None:
    """An error page, a JSON or text answer, or an empty body is not written as media:
    one line says why, the exit code is not 0, and no file is left (not even a partial)."""
    fault.queue(answer(fault))
    out = tmp_path / "image.jpg"
    result = run_cli("--max-retries", "0", "call", fault.url, "/generate", "-o", str(out))
    assert result.returncode == code
    assert says in result.stderr
    assert len(lines(result.stderr)) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_refused_json_answer_is_quoted(fault: FaultServer, tmp_path: Path) -> None:
    """The refusal quotes the start of the answer, so its message is not lost."""
    fault.queue(fault.ok({"error": "NSFW prompt"}))
    result = call(fault, "/generate", "-o", str(tmp_path / "x.jpg"))
    assert '{"error": "NSFW prompt"}' in result.stderr


def test_an_existing_file_is_kept_when_the_answer_is_refused(
    fault: FaultServer, tmp_path: Path
) -> None:
    """A refused answer leaves an existing file as it was."""
    out = tmp_path / "keep.jpg"
    out.write_bytes(b"old picture")
    fault.queue(fault.html(500, "500 Internal Server Error"))
    result = run_cli("--max-retries", "0", "call", fault.url, "/generate", "-o", str(out))
    assert result.returncode == 1
    assert out.read_bytes() == b"old picture"


@pytest.mark.parametrize(
    "target",
    ["not a target", "slug:Bad_Slug", "id:123", "ftp://host", "evil.com#/x"],
)
def test_a_bad_target_exits_2(target: str) -> None:
    """A target that is not user/name, slug:, id: or an http(s) URL exits 2 before traffic."""
    result = run_cli("call", target, "/run")
    assert result.returncode == 2
    assert "ConfigurationError" in result.stderr


def test_output_into_a_missing_folder_exits_2_before_the_call(
    fault: FaultServer, tmp_path: Path
) -> None:
    """``-o`` into a folder that does not exist exits 2 before anything is sent (a call
    that cannot be saved is not paid for)."""
    result = call(fault, "/speak", "-o", str(tmp_path / "missing" / "x.wav"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert fault.count() == 0
