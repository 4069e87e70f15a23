"""The platform commands in a subprocess against the platform socket server: ``models``,
``chute show``, ``warmup``, ``whoami``, ``quota``, ``usage`` and ``doctor``."""

from __future__ import annotations

import json

import pytest
from clirun import KEY, Platform, cli_env, lines, run_cli
from platform_server import MODEL, SCOPED_KEY, platform_id

UNUSED = "http://127.0.0.1:9"  # the discard port: nothing on this machine answers there


def test_models_lists_ids_and_prices(platform: Platform) -> None:
    """``models`` prints a table: the model's id and its prices per million tokens."""
    result = platform.run("models")
    assert result.returncode == 0, result.stderr
    header, row = lines(result.stdout)
    assert header.split()[0] == "MODEL"
    assert row.split() == [MODEL, "$0.30", "$1.20"]


def test_models_json_is_the_gateways(platform: Platform) -> None:
    """``models --json`` prints the gateway's own JSON."""
    result = platform.run("models", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [m["id"] for m in found["data"]] == [MODEL]
    assert found["data"][0]["chute_id"] == platform_id("chutes/deepseek-v3")


def test_chute_show_tells_state_price_and_cords(platform: Platform) -> None:
    """``chute show`` prints hot/cold and instances, the price, and a table of cords with
    method, path, streaming, answer type and body fields from the cord's schema."""
    result = platform.run("chute", "show", "myuser/tts")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "myuser/tts"
    assert f"id       {platform_id('myuser/tts')}" in out
    assert "status   hot, 1 instance" in out
    assert "price    $1.50/hour" in out
    table = out[out.index("METHOD") :].splitlines()
    assert table[0].split() == ["METHOD", "PATH", "STREAM", "ANSWERS", "BODY", "FIELDS"]
    assert table[1].split(maxsplit=4) == [
        "POST",
        "/speak",
        "no",
        "audio/wav",
        'text: string (required), voice: string = "af"',
    ]


def test_chute_show_of_an_llm_lists_streamed_and_plain_cords(platform: Platform) -> None:
    """An LLM chute shows its public paths, a streamed and a plain cord each, and its price
    per million tokens."""
    result = platform.run("chute", "show", f"id:{platform_id('myuser/my-llm')}")
    assert result.returncode == 0, result.stderr
    rows = [line.split()[:3] for line in result.stdout.splitlines() if "/v1/" in line]
    assert ["POST", "/v1/chat/completions", "yes"] in rows
    assert ["POST", "/v1/chat/completions", "no"] in rows
    assert ["GET", "/v1/models", "no"] in rows
    assert "$0.20/M input tokens, $0.80/M output tokens" in result.stdout


def test_chute_show_of_a_cold_chute(platform: Platform) -> None:
    """A cold chute shows as cold with no instances."""
    result = platform.run("chute", "show", "myuser/cold-llm")
    assert "status   cold, no instances" in result.stdout


def test_chute_show_json_is_the_platforms(platform: Platform) -> None:
    """``chute show --json`` prints the platform's JSON for the chute."""
    result = platform.run("chute", "show", "myuser/tts", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["chute_id"] == platform_id("myuser/tts")
    assert found["cords"][0]["path"] == "/speak"


@pytest.mark.parametrize("target", ["slug:myuser-tts", "http://127.0.0.1:9"])
def test_chute_show_needs_a_name_or_id(platform: Platform, target: str) -> None:
    """A slug or URL cannot be looked up on the platform: exit 2, saying what to give."""
    result = platform.run("chute", "show", target)
    assert result.returncode == 2
    assert "give 'user/name' or 'id:<uuid>'" in result.stderr


def test_chute_show_of_someone_elses_private_chute(platform: Platform) -> None:
    """A private chute of another user is the platform's 404: exit 1, its words."""
    result = platform.run("chute", "show", "other/secret")
    assert result.returncode == 1
    assert "NotFoundError (404): Chute not found, or does not belong to you" in result.stderr


def test_warmup_follows_the_chute_until_hot(platform: Platform) -> None:
    """``warmup`` prints each cold status to stderr and the hot one to stdout."""
    result = platform.run("warmup", "myuser/cold-llm")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hot: chute is hot, 1 instances available\n"
    assert lines(result.stderr).count("cold: waiting for instances ...") == 3


def test_warmup_quick_only_asks(platform: Platform) -> None:
    """``warmup --quick`` says hot or cold and the instance count, and warms nothing."""
    cold = platform.run("warmup", "--quick", "myuser/cold-llm")
    hot = platform.run("warmup", "myuser/my-llm", "--quick")
    assert (cold.returncode, cold.stdout) == (0, "cold, 0 instances\n")
    assert (hot.returncode, hot.stdout) == (0, "hot, 1 instance\n")
    still_cold = platform.run("chute", "show", "myuser/cold-llm")
    assert "cold, no instances" in still_cold.stdout


def test_warmup_timeout_is_its_own_option(platform: Platform) -> None:
    """``warmup --timeout S`` bounds the wait: past it, exit 7 (a timeout)."""
    platform.server.chutes[1].cold_events = 100  # 5 s of cold events, 50 ms apart
    result = platform.run("warmup", "myuser/cold-llm", "--timeout", "0.3")
    assert result.returncode == 7
    assert "APITimeoutError" in result.stderr


def test_whoami(platform: Platform) -> None:
    """``whoami`` prints the account's name, id, balance and permissions."""
    result = platform.run("whoami")
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(None, 1) for line in lines(result.stdout) if " id " not in line)
    assert rows["username"] == "myuser"
    assert rows["balance"] == "$25.00"
    assert rows["permissions"] == "developer"


def test_whoami_with_a_key_scoped_to_chutes(platform: Platform) -> None:
    """A key that may not read the account exits 3, saying an admin key is needed."""
    result = platform.run("whoami", env=cli_env(SCOPED_KEY))
    assert result.returncode == 3
    assert "AuthenticationError (401)" in result.stderr
    assert "account-scoped (admin) API key" in result.stderr


def test_quota_lists_rules_and_use(platform: Platform) -> None:
    """``quota`` prints each rule with today's use and what remains."""
    result = platform.run("quota")
    assert result.returncode == 0, result.stderr
    header, row = lines(result.stdout)
    assert header.split()[:2] == ["CHUTE", "REQUESTS/DAY"]
    assert row.split() == ["every", "chute", "200", "3", "197", "yes"]


def test_quota_of_an_account_without_quotas(platform: Platform) -> None:
    """A free or invoiced account has no quota rules, and says so."""
    platform.server.quotas = {}
    result = platform.run("quota")
    assert result.stdout == "no request quotas (a free or invoiced account)\n"


def test_usage_lists_buckets_and_a_total(platform: Platform) -> None:
    """``usage`` prints one row per bucket and a total."""
    platform.server.usage_buckets = [
        {
            "bucket": f"2025-01-0{day}T00:00:00Z",
            "amount": amount,
            "count": count,
            "input_tokens": 100 * day,
            "output_tokens": 10 * day,
            "chute_id": platform_id("myuser/my-llm"),
        }
        for day, amount, count in ((1, 0.5, 4), (2, 1.25, 6))
    ]
    result = platform.run("usage")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in lines(result.stdout)]
    assert rows[1] == ["2025-01-01T00:00:00+00:00", "$0.50", "4", "100", "10"]
    assert rows[2] == ["2025-01-02T00:00:00+00:00", "$1.25", "6", "200", "20"]
    assert rows[3] == ["total", "$1.75", "10"]


def test_usage_when_there_is_none(platform: Platform) -> None:
    """No buckets: says so."""
    assert platform.run("usage").stdout == "no usage recorded\n"


def test_a_spent_balance_is_exit_4(platform: Platform) -> None:
    """The platform's 402 (balance spent) exits 4 with its words."""
    platform.server.balance = 0
    result = platform.run("warmup", "myuser/cold-llm")
    assert result.returncode == 4
    assert "PaymentRequiredError (402): Account balance is $0" in result.stderr


# --- doctor ----------------------------------------------------------------------------------


def doctor_rows(text: str) -> dict[str, str]:
    """``doctor``'s lines as ``{name: rest}`` (names are one or two words)."""
    rows = {}
    for line in lines(text):
        words = line.split("  ", 1)
        rows[words[0].strip()] = words[1].strip()
    return rows


def test_doctor_reports_key_settings_and_reach(platform: Platform) -> None:
    """``doctor`` says where the key comes from and that it looks right (never showing it),
    each setting with its source, and that the API and the gateway answer."""
    result = platform.run("--max-retries", "1", "doctor")
    assert result.returncode == 0, result.stdout
    rows = doctor_rows(result.stdout)
    assert rows["API key"] == "set, from CHUTES_API_KEY, looks like a cpk_ key"
    assert rows["API URL"] == f"{platform.api} (argument --api-url)"
    assert rows["gateway URL"] == f"{platform.llm} (argument --llm-url)"
    assert rows["timeout"].endswith("(default)")
    assert rows["max retries"] == "1 (argument --max-retries)"
    assert rows["API"].startswith("reachable, prices for 2 GPUs")
    assert rows["gateway"].startswith("reachable, 1 model ")
    assert KEY not in result.stdout + result.stderr


def test_doctor_reads_urls_from_the_environment(platform: Platform) -> None:
    """Settings from the environment are said to come from their variable."""
    env = cli_env(KEY, CHUTES_API_URL=platform.api, CHUTES_LLM_URL=platform.llm)
    result = run_cli("doctor", env=env)
    rows = doctor_rows(result.stdout)
    assert rows["API URL"] == f"{platform.api} (environment CHUTES_API_URL)"
    assert rows["gateway URL"] == f"{platform.llm} (environment CHUTES_LLM_URL)"
    assert result.returncode == 0


def test_doctor_with_a_key_of_the_wrong_shape(platform: Platform) -> None:
    """A key given as an argument that does not look like a chutes key: said, never shown,
    exit 1."""
    odd = "sk-this-is-not-a-chutes-key-but-secret"
    result = platform.run("doctor", "--api-key", odd, key=None)
    assert result.returncode == 1
    rows = doctor_rows(result.stdout)
    assert rows["API key"] == (
        "set, from --api-key, does not look like one: it has 1 dot-separated parts, not 3"
    )
    assert odd not in result.stdout + result.stderr


def test_doctor_without_a_key(platform: Platform) -> None:
    """No key: doctor says how to set one, checks nothing, and exits 1."""
    result = platform.run("doctor", key=None)
    assert result.returncode == 1
    rows = doctor_rows(result.stdout)
    assert rows["API key"] == "not set: set CHUTES_API_KEY (or pass --api-key)"
    assert rows["API"] == "not checked (no key)"


def test_doctor_when_nothing_answers() -> None:
    """An API and a gateway that cannot be reached are reported so; exit 1."""
    result = run_cli("--api-url", UNUSED, "--llm-url", UNUSED, "doctor")
    assert result.returncode == 1
    rows = doctor_rows(result.stdout)
    assert rows["API"].startswith("not reachable: APIConnectionError")
    assert rows["gateway"].startswith("not reachable: APIConnectionError")
