"""`penny models`: the catalogue (list, pull, use) and the models each LLM backend serves."""
from __future__ import annotations

import typer

models_app = typer.Typer(help="List (no command), download (pull) and switch (use) speech and language models.")


@models_app.callback(invoke_without_command=True)
def models_list(ctx: typer.Context) -> None:
    """List the catalogue (pulled or not, * = in use) and the models each configured LLM backend serves."""
    if ctx.invoked_subcommand is not None:
        return
    from penny.catalog import CATALOG, active_names, is_pulled
    from penny.cli import cfg

    active = active_names(cfg())
    typer.echo("Catalogue (penny models pull NAME, then penny models use NAME):")
    for m in CATALOG:
        state = "bundled" if m.bundled else "pulled" if is_pulled(m) else "not pulled"
        mark = "*" if m.name in active else " "
        typer.echo(f" {mark} {m.name:25} {m.kind:3}  {m.size_mb:>5,} MB  {state:10}  {m.summary}")
        typer.echo(f"{'':52}{m.cost.describe()}")
    _backend_models()


def _backend_models() -> None:
    import asyncio

    from penny.adapters.llm.factory import build_llm
    from penny.cli import cfg

    async def run() -> dict:
        chain = build_llm(cfg())
        try:
            listed = await chain.list_models()
            return {b.name: (b.model, listed.get(b.name, [])) for b in chain.backends}
        finally:
            await chain.aclose()

    typer.echo("LLM backends (* = in use):")
    for name, (current, names) in asyncio.run(run()).items():
        listed = ", ".join(f"*{n}" if n == current else n for n in names) or "(unreachable)"
        typer.echo(f"  {name}: {listed}")
    typer.echo("Switch for one chat with `penny chat --model NAME`, or /model NAME inside `penny chat`.", err=True)


@models_app.command("pull")
def models_pull(name: str = typer.Argument(..., help="A catalogue name, e.g. whisper-base.en or "
                                                     "qwen2.5-1.5b-instruct (`penny models` lists them).")) -> None:
    """Download a catalogue model from the Hugging Face Hub (resumable, checksum-verified)."""
    from penny.catalog import find
    from penny.model_pull import pull

    model = find(name)
    try:
        pull(model, say=lambda line: typer.echo(line, err=True))
    except KeyboardInterrupt:
        typer.echo(f"\nInterrupted. Run `penny models pull {model.name}` again to resume; "
                   "the model is not installed until every file is verified.", err=True)
        raise typer.Exit(130) from None


@models_app.command("use")
def models_use(name: str = typer.Argument(..., help="A pulled or bundled catalogue model.")) -> None:
    """Switch penny_config.json to a pulled model (stt.model or llm.embedded.model_path)."""
    from penny.catalog import find
    from penny.cli import state
    from penny.model_use import use

    model = find(name)
    target, notes = use(model, state.config_path)
    key = "stt.model" if model.kind == "stt" else "llm.embedded.model_path"
    typer.echo(f"{target}: {key} now selects {model.name}. It takes effect when Penny next starts.")
    for note in notes:
        typer.echo(note, err=True)
