"""``barometer llm log`` and ``barometer eval summaries``: the LLM audit trail and its evaluation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from jobs.errors import BarometerError, InputError
from worker.cli.options import load_runtime, load_settings

if TYPE_CHECKING:  # imported when a command runs: `barometer --help` stays fast
    from jobs.domain import LLMCall
    from jobs.summary.evaluate import Score
    from worker.settings import Settings

#: jobs.summary.evaluate.GOLDEN_DIR, named here so the option's default needs no import
GOLDEN_DIR = Path(__file__).resolve().parents[2] / "jobs" / "summary" / "golden"

__all__ = ["describe_llm", "eval_app", "evaluate_summaries", "format_calls", "llm_app"]

llm_app = typer.Typer(help="Language-model summaries: the audit trail of every call.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate parts of barometer on golden data.", no_args_is_help=True)


def describe_llm(settings: Settings) -> str:
    """One line for ``config check``: the failover chain, its models and whether each key is set."""
    from worker.settings import secret

    chain = settings.llm.chain()
    if not chain:
        return "llm: off (template summaries)"
    parts = []
    for e in chain:
        alert = f", alerts {e.alert_model}" if e.alert_model and e.alert_model != e.model else ""
        missing = "not set (optional)" if e.provider in ("ollama", "openai_compatible") else "MISSING"
        key = f"key {e.api_key_env}: {'set' if secret(e.api_key_env) else missing}" if e.api_key_env else "no key"
        parts.append(f"{e.provider} {e.model}{alert} ({key})")
    cap = settings.llm.monthly_budget_usd
    return "llm: " + " -> ".join(parts) + (f"; cap ${cap:.2f}/month" if cap > 0 else "; no cost cap")


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_calls(calls: tuple[LLMCall, ...], *, full: bool = False) -> str:
    """The calls as a table, newest first; the detail is cut to one line unless ``full``."""
    head = (
        f"{'id':>5}  {'when (UTC)':<16}  {'digest':>6}  {'provider':<9}  {'model':<22}  {'prompt':<16}  "
        f"{'in':>6}  {'out':>5}  {'cost $':>9}  {'ms':>6}  {'outcome':<8}  detail"
    )
    lines = [head]
    for c in calls:
        when = c.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        detail = " ".join(c.detail.split())
        lines.append(
            f"{c.id or 0:>5}  {when:<16}  {c.digest_id if c.digest_id is not None else '-':>6}  "
            f"{_cell(c.provider, 9):<9}  {_cell(c.model or '-', 22):<22}  {_cell(c.prompt_version, 16):<16}  "
            f"{c.tokens_in:>6}  {c.tokens_out:>5}  {c.cost_usd:>9.5f}  {c.latency_ms:>6}  {c.outcome.value:<8}  "
            f"{detail if full else _cell(detail, 90)}"
        )
    return "\n".join(lines)


@llm_app.command("log")
def llm_log(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="How many calls, newest first.")] = 20,
    full: Annotated[bool, typer.Option("--full", help="Show each call's whole detail (violations, errors).")] = False,
) -> None:
    """Show the newest LLM calls: provider, model, prompt version, tokens, cost, latency, outcome."""
    from jobs.storage import llm_calls

    settings = load_settings()
    engine = load_runtime(settings).engine
    calls = llm_calls.recent_calls(engine, limit=limit)
    if not calls:
        typer.echo("no LLM calls recorded yet")
    else:
        typer.echo(format_calls(calls, full=full))
    now = datetime.now(UTC)
    spent = llm_calls.spent_since(engine, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    cap = settings.llm.monthly_budget_usd
    typer.echo(f"spent in {now:%Y-%m}: ${spent:.4f}" + (f" of the ${cap:.2f} monthly cap" if cap > 0 else " (no cap)"))


def evaluate_summaries(
    settings: Settings, golden: Path, *, task: Literal["digest", "alert"] = "digest"
) -> tuple[Score, ...]:
    """Run every golden bundle through the configured model chain; calls are recorded as usual."""
    from jobs.summary.evaluate import load_bundles, score
    from jobs.summary.llm import LLMSummariser
    from worker import bootstrap
    from worker.settings import SubscriptionSettings

    bundles = load_bundles(golden)
    if not settings.llm.provider:
        raise BarometerError("eval summaries: [llm] provider is not set; configure the model to evaluate")
    scores = []
    for bundle in bundles:
        properties = bundle.properties or tuple(dict.fromkeys(f.property for f in bundle.findings))
        subscription = SubscriptionSettings(name="eval", properties=properties)
        summariser = bootstrap.summariser_for(settings, subscription, task=task)
        assert isinstance(summariser, LLMSummariser)
        report = summariser.report(bundle.domain_findings(), data_date=bundle.data_date)
        scores.append(score(bundle, report, task=task))
    return tuple(scores)


@eval_app.command("summaries")
def eval_summaries(
    golden: Annotated[
        Path, typer.Option(help="A bundle (.json) or a directory of them; default: the shipped golden set.")
    ] = GOLDEN_DIR,
    task: Annotated[str, typer.Option(help="digest (the daily model) or alert (the fast model).")] = "digest",
    fail_under: Annotated[
        float, typer.Option(help="Exit 1 when fewer first answers than this share (0..1) pass the fact check.")
    ] = 0.0,
) -> None:
    """Score the configured model on golden finding bundles: faithfulness, coverage, length."""
    if task not in ("digest", "alert"):
        raise InputError(f"--task: expected 'digest' or 'alert', got {task!r}")
    if not 0.0 <= fail_under <= 1.0:
        raise InputError(f"--fail-under: expected a share between 0 and 1, got {fail_under}")
    settings = load_settings()
    scores = evaluate_summaries(settings, golden, task="alert" if task == "alert" else "digest")
    model = settings.llm.chain()[0].model_for("alert" if task == "alert" else "digest")
    typer.echo(f"{settings.llm.provider} {model} on {len(scores)} bundle(s) from {golden}")
    from jobs.summary.evaluate import format_table

    typer.echo(format_table(scores))
    faithful = sum(s.faithful_first for s in scores) / len(scores)
    if faithful < fail_under:
        typer.echo(f"error: {faithful:.0%} faithful first answers is under --fail-under {fail_under:.0%}", err=True)
        raise typer.Exit(1)
