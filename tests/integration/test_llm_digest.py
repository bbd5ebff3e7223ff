"""The digest that goes out, whatever the model does.

The daily delivery runs for real (``service.deliver_subscription``: stored findings ->
summariser from settings -> digest saved -> outbox -> channel) with the LLM behind a local
fake server reached through the openai SDK. Each test looks at what a reader gets: the
``.eml`` and ``.slack.json`` in the outbox, or the message a real SMTP server received,
and at the ``llm_call`` rows.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from jobs.domain import PropertySpec
from jobs.storage import repo
from jobs.storage.llm_calls import recent_calls
from tests.fakes import DATA_DATE, HOSTILE_PAGE, Clock, sample_digest
from tests.fakes.llm import Content, FakeLLM
from tests.fakes.smtp import SmtpServer
from worker import bootstrap, service
from worker.runtime import build as build_runtime
from worker.settings import Settings, load_settings

MODELS = {"openai": "gpt-4.1", "anthropic": "claude-haiku-4-5"}
URLS = {"openai": lambda fake: fake.openai_url, "anthropic": lambda fake: fake.anthropic_url}

#: What the fake's unfaithful answers say; none of it may ever reach a reader.
LIES = ("37%", "12,345", "500%", "evil.example", "all good", "Nothing unusual")


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def make_settings(
    tmp_path: Path, llm: FakeLLM, *, database_url: str = "", smtp: SmtpServer | None = None, provider: str = "openai"
) -> Settings:
    smtp_toml = f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\nstarttls = false\n' if smtp else ""
    path = tmp_path / "barometer.toml"
    url = database_url or f"sqlite:///{tmp_path / 'b.db'}"
    path.write_text(
        f'[storage]\ndatabase_url = "{url}"\n'
        f'[outbox]\ndir = "{tmp_path / "outbox"}"\n{smtp_toml}'
        f'[llm]\nprovider = "{provider}"\nmodel = "{MODELS[provider]}"\nbase_url = "{URLS[provider](llm)}"\n'
        'api_key_env = "TEST_LLM_KEY"\nmax_retries = 1\ntimeout_seconds = 0.5\n'
        '[[properties]]\nname = "shop"\nsource = "csv"\n'
        '[[subscriptions]]\nname = "marketing"\nproperties = ["shop"]\nemail = ["team@shop.example"]\n'
        'min_severity = "medium"\n',
        encoding="utf-8",
    )
    return load_settings(path)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-digest")


def deliver(settings: Settings) -> service.DeliveryReport:
    engine = bootstrap.engine(settings)
    prop_id = repo.ensure_property(engine, PropertySpec("shop", "csv"))
    repo.save_findings(engine, prop_id, sample_digest().findings)
    return service.deliver_subscription(build_runtime(settings), "marketing", data_date=DATA_DATE, now=Clock())


def outbox_message(tmp_path: Path) -> tuple[EmailMessage, dict[str, object]]:
    (eml,) = sorted((tmp_path / "outbox").glob("*.eml"))
    (slack,) = sorted((tmp_path / "outbox").glob("*.slack.json"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message, json.loads(slack.read_text(encoding="utf-8"))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def slack_strings(payload: object) -> list[str]:
    if isinstance(payload, dict):
        return [s for v in payload.values() for s in slack_strings(v)]
    if isinstance(payload, list):
        return [s for v in payload for s in slack_strings(v)]
    return [payload] if isinstance(payload, str) else []


def assert_safe(message: EmailMessage, payload: dict[str, object]) -> None:
    """Nothing unverified, nothing unescaped: in the text part, the HTML part and the Slack payload."""
    text, html = parts(message)
    strings = slack_strings(payload)
    for lie in LIES:
        assert lie not in text
        assert lie not in html
        assert not any(lie in s for s in strings)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not any("<script>" in s or "<!channel>" in s for s in strings)


@pytest.mark.parametrize(
    ("script", "outcomes", "by_model"),
    [
        (("faithful",), ["ok"], True),
        (("hallucinated", "faithful"), ["rejected", "ok"], True),
        (("hallucinated", "hallucinated"), ["rejected", "rejected", "fallback"], False),
        (("injected", "injected"), ["rejected", "rejected", "fallback"], False),
        (("reassuring", "injected"), ["rejected", "rejected", "fallback"], False),
        (("malformed", "wrong_schema"), ["rejected", "rejected", "fallback"], False),
        (("slow", "slow"), ["error", "fallback"], False),
        (("error500", "error500"), ["error", "fallback"], False),
        (("error429", "faithful"), ["ok"], True),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else None,
)
def test_the_digest_always_goes_out_without_an_unverified_number(
    tmp_path: Path, llm: FakeLLM, script: tuple[str, ...], outcomes: list[str], by_model: bool
) -> None:
    llm.slow_seconds = 1.0
    settings = make_settings(tmp_path, llm)
    llm.script(*script)

    report = deliver(settings)

    assert (report.sent, report.failed) == (1, 0)
    message, payload = outbox_message(tmp_path)
    assert_safe(message, payload)
    text, _ = parts(message)
    digest = repo.load_digest(bootstrap.engine(settings), report.digest_id or 0)
    assert digest is not None
    if by_model:
        assert digest.summariser == "openai gpt-4.1 (fact-checked)"
        assert "Key events on shop fell 98% to 4 against an expected 200 on 2026-11-18." in text
    else:
        assert digest.summariser == "template"
        assert "The biggest: key events tracking stopped on shop (4 instead of about 200)" in text
    assert f"Summary by {digest.summariser}" in text

    calls = list(reversed(recent_calls(bootstrap.engine(settings))))
    assert [c.outcome.value for c in calls] == outcomes
    assert {c.digest_id for c in calls} == {report.digest_id}


def test_hostile_names_in_a_faithful_answer_arrive_escaped_over_smtp(tmp_path: Path, llm: FakeLLM) -> None:
    answer = {
        "headline": f'Landing page "{HOSTILE_PAGE}" fell 96.1%',
        "paragraphs": [
            {
                "text": "Key events on shop fell 98% to 4 against an expected 200, likely a tracking break.",
                "facts": ["F1"],
            },
            {"text": f'Sessions on landing page "{HOSTILE_PAGE}" fell to 12 from 310.', "facts": ["F3", "F4"]},
        ],
    }
    with SmtpServer() as smtp:
        settings = make_settings(tmp_path, llm, smtp=smtp)
        llm.script(Content(json.dumps(answer)))
        report = deliver(settings)
        (received,) = smtp.received

    assert report.sent == 1
    text, html = parts(received.message)
    assert f'Sessions on landing page "{HOSTILE_PAGE}" fell to 12 from 310.' in text  # plain text: nothing to escape
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert received.message["Subject"].endswith("(4 changes on shop)")
    assert len(llm.requests) == 1  # the answer was accepted as it was


def test_an_answer_pinging_the_channel_never_reaches_slack(tmp_path: Path, llm: FakeLLM) -> None:
    ping = {
        "headline": "<!channel> key events down 98%",
        "paragraphs": [{"text": "Key events fell 98%.", "facts": ["F1"]}],
    }
    settings = make_settings(tmp_path, llm)
    llm.script(Content(json.dumps(ping)), Content(json.dumps(ping)))

    deliver(settings)

    message, payload = outbox_message(tmp_path)
    assert not any("<!channel>" in s or "&lt;!channel&gt;" in s for s in slack_strings(payload))
    assert all("!channel" not in part for part in parts(message))
    assert [c.outcome.value for c in reversed(recent_calls(bootstrap.engine(settings)))] == [
        "rejected",
        "rejected",
        "fallback",
    ]


def test_a_second_run_for_the_day_asks_no_model(tmp_path: Path, llm: FakeLLM) -> None:
    settings = make_settings(tmp_path, llm)
    first = deliver(settings)
    second = service.deliver_subscription(build_runtime(settings), "marketing", data_date=DATA_DATE, now=Clock())
    assert first.digest_id == second.digest_id
    assert len(llm.requests) == 1


@pytest.mark.postgres
def test_calls_are_linked_and_counted_on_postgresql(tmp_path: Path, llm: FakeLLM, postgres_url: str) -> None:
    from worker import db

    db.upgrade(db.create_engine(postgres_url))
    settings = make_settings(tmp_path, llm, database_url=postgres_url)
    llm.script("hallucinated")
    try:
        report = deliver(settings)
        calls = recent_calls(bootstrap.engine(settings))
        assert [c.outcome.value for c in reversed(calls)] == ["rejected", "ok"]
        assert {c.digest_id for c in calls} == {report.digest_id}
        assert all(c.created_at.tzinfo is not None for c in calls)
    finally:
        bootstrap.forget_engine(postgres_url)


@pytest.mark.parametrize(
    ("script", "outcomes", "summariser"),
    [
        (("injected", "faithful"), ["rejected", "ok"], "anthropic claude-haiku-4-5 (fact-checked)"),
        (("hallucinated", "malformed"), ["rejected", "rejected", "fallback"], "template"),
        (("error500", "error500"), ["error", "fallback"], "template"),
    ],
    ids=["injected-then-faithful", "hallucinated-then-malformed", "error500"],
)
def test_the_same_holds_through_the_anthropic_sdk(
    tmp_path: Path, llm: FakeLLM, script: tuple[str, ...], outcomes: list[str], summariser: str
) -> None:
    settings = make_settings(tmp_path, llm, provider="anthropic")
    llm.script(*script)

    report = deliver(settings)

    assert report.sent == 1
    assert {r.path for r in llm.requests} == {"/v1/messages"}
    message, payload = outbox_message(tmp_path)
    assert_safe(message, payload)
    assert f"Summary by {summariser}" in parts(message)[0]
    assert [c.outcome.value for c in reversed(recent_calls(bootstrap.engine(settings)))] == outcomes
