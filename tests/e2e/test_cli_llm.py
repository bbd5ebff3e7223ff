"""``barometer run``, ``barometer llm log`` and ``barometer eval summaries`` as a user runs them.

Real processes and a real SQLite database; the LLM is a local fake server (in this test
process) reached by the subprocess through the openai SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import barometer
from tests.fakes.llm import FakeLLM

CONFIG = """
[storage]
database_url = "sqlite:///{db}"
[outbox]
dir = "{outbox}"
[llm]
provider = "openai"
model = "gpt-4.1"
alert_model = "gpt-4.1-mini"
base_url = "{base_url}"
api_key_env = "TEST_LLM_KEY"
max_retries = 0
timeout_seconds = 5
[[properties]]
name = "shop"
source = "demo"
id = "ga4"
[[subscriptions]]
name = "team"
properties = ["shop"]
email = ["team@example.com"]
"""


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, llm: FakeLLM) -> dict[str, str]:
    path = tmp_path / "barometer.toml"
    path.write_text(CONFIG.format(db=tmp_path / "b.db", outbox=tmp_path / "outbox", base_url=llm.openai_url))
    return {"BAROMETER_CONFIG": str(path), "TEST_LLM_KEY": "sk-test-cli"}


def test_run_writes_a_fact_checked_summary_and_llm_log_shows_the_call(
    tmp_path: Path, env: dict[str, str], llm: FakeLLM
) -> None:
    empty = barometer("llm", "log", cwd=tmp_path, env=env)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.splitlines() == [
        "no LLM calls recorded yet",
        f"spent in {_month(empty.stdout)}: $0.0000 (no cap)",
    ]

    run = barometer("run", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert "Summary by openai gpt-4.1 (fact-checked)" in eml.read_text()
    facts = llm.requests[0].facts
    assert facts["findings"], "the demo data has findings to explain"

    log = barometer("llm", "log", "--limit", "5", cwd=tmp_path, env=env)
    assert log.returncode == 0, log.stderr
    header, row, total = log.stdout.splitlines()
    assert header.split()[:4] == ["id", "when", "(UTC)", "digest"]
    fields = row.split()
    assert fields[0] == "1"
    assert fields[3:9] == ["1", "openai", "gpt-4.1", "digest/facts-v3", "1200", "150"]
    assert fields[-1] == "ok"
    assert total.endswith("$0.0036 (no cap)")


def _month(stdout: str) -> str:
    return stdout.splitlines()[-1].split()[2].rstrip(":")


def test_eval_summaries_scores_the_shipped_golden_set(tmp_path: Path, env: dict[str, str], llm: FakeLLM) -> None:
    result = barometer("eval", "summaries", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("openai gpt-4.1 on 7 bundle(s) from ")
    rows = {line.split()[0]: line.split() for line in lines[3:-2]}
    assert set(rows) == {
        "ctr-drop",
        "injection-query",
        "many-findings",
        "new-page",
        "page-deindexed",
        "sitewide-drop",
        "tracking-break",
    }
    assert all(r[1:4] == ["llm", "ok", "0"] for r in rows.values()), result.stdout
    assert rows["many-findings"][4] == "3/3"
    assert lines[-1].startswith("faithful first answers 7/7 (100%), model text used 7/7, coverage of top findings")
    assert len(llm.requests) == 7
    many = next(r for r in llm.requests if r.facts["findings_total"] == 12)
    assert many.facts["findings_listed"] == 10  # [llm] max_findings


def test_eval_of_a_lying_model_fails_under_the_threshold(tmp_path: Path, env: dict[str, str], llm: FakeLLM) -> None:
    llm.default = "hallucinated"
    golden = tmp_path / "one.json"
    bundle = json.loads((Path(__file__).parents[2] / "jobs/summary/golden/tracking-break.json").read_text())
    golden.write_text(json.dumps(bundle))

    result = barometer("eval", "summaries", "--golden", str(golden), "--fail-under", "0.5", cwd=tmp_path, env=env)

    assert result.returncode == 1
    row = result.stdout.splitlines()[3].split()
    assert row[:3] == ["tracking-break", "template", "rejected"]
    assert result.stderr.splitlines()[-1] == "error: 0% faithful first answers is under --fail-under 50%"
    log = barometer("llm", "log", "--full", cwd=tmp_path, env=env)
    assert "paragraph 3: '37%' matches no cited fact; paragraph 3: '12,345' matches no cited fact" in log.stdout


@pytest.mark.parametrize(
    ("args", "bundle", "message"),
    [
        (("--golden", "missing.json"), None, "error: --golden missing.json: no such file or directory"),
        (("--task", "weekly"), None, "error: --task: expected 'digest' or 'alert', got 'weekly'"),
        (("--fail-under", "2"), None, "error: --fail-under: expected a share between 0 and 1, got 2.0"),
        (("--golden", "bad.json"), "{", "error: bad.json:1: not valid JSON (Expecting property name enclosed in"),
        (
            ("--golden", "bad.json"),
            '{"name": "x", "data_date": "2026-11-18", "findings": [{"kind": "blip"}]}',
            "error: bad.json: findings[0].property: Field required",
        ),
    ],
)
def test_eval_bad_input_is_one_line(
    tmp_path: Path, env: dict[str, str], args: tuple[str, ...], bundle: str | None, message: str
) -> None:
    if bundle is not None:
        (tmp_path / "bad.json").write_text(bundle)
    result = barometer("eval", "summaries", *args, cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_eval_without_a_model_says_what_to_configure(tmp_path: Path) -> None:
    result = barometer("eval", "summaries", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: eval summaries: [llm] provider is not set; configure the model to evaluate"
    )


def test_llm_log_rejects_a_bad_limit(tmp_path: Path) -> None:
    result = barometer("llm", "log", "--limit", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "Error: Invalid value for '--limit' / '-n': Input should be greater than or equal to 1" in result.stderr


def test_usage_errors_are_a_usage_message_not_a_traceback(tmp_path: Path) -> None:
    result = barometer("llm", "log", "--bogus", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("Error: No such option: --bogus")


def test_config_check_shows_the_model_chain_and_missing_keys(tmp_path: Path, env: dict[str, str]) -> None:
    config = Path(env["BAROMETER_CONFIG"])
    config.write_text(
        config.read_text()
        + '[[llm.fallbacks]]\nprovider = "anthropic"\nmodel = "claude-haiku-4-5"\napi_key_env = "NOT_SET_KEY"\n'
    )
    result = barometer("config", "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "llm: openai gpt-4.1, alerts gpt-4.1-mini (key TEST_LLM_KEY: set) -> "
        "anthropic claude-haiku-4-5 (key NOT_SET_KEY: MISSING); no cost cap"
    ) in lines
    assert lines[-1] == "tuning: none saved (no database yet)"  # the console's saved tuning follows
