"""`penny intents`: which sentences reach which skill, check the user's sentence files, try a sentence."""
from __future__ import annotations

import typer

intents_app = typer.Typer(help="List, check and try the sentences (hassil templates) that reach Penny's skills.",
                          no_args_is_help=True)
LANGUAGE = typer.Option(None, "--language", "-l", help="Language (default: assistant.language).")


def _registry(language: str | None):
    from penny.cli import cfg
    from penny.plugins.loading import build_plugins

    config = cfg()
    if language:
        config.assistant.language = language
    return build_plugins(config)


@intents_app.command("list")
def intents_list(language: str | None = LANGUAGE) -> None:
    """Every intent a skill handles, where its sentences come from, and what this language lacks."""
    reg = _registry(language)
    lib = reg.router.library
    typer.echo(f"Language: {lib.language}")
    for plugin, intent in reg.router.owners():
        known = intent.sentences in lib.intents.intents
        count = sum(len(d.sentences) for d in lib.intents.intents[intent.sentences].data) if known else 0
        origin = ", ".join(lib.sources.get(intent.sentences, [])) or "no sentences in this language"
        typer.echo(f"  {plugin + '.' + intent.name:24} {intent.sentences:28} {count:4} templates  {origin}")
    missing = reg.router.missing()
    if missing:
        typer.echo(f"No {lib.language} sentences for: {', '.join(missing)}. Such requests go to the language "
                   "model; add sentences in custom_sentences/" + lib.language + "/ to reach the skill.")


@intents_app.command("check")
def intents_check(language: str | None = LANGUAGE) -> None:
    """Check the sentence files in custom_sentences/<language>/ (line-numbered errors); exit 1 on a problem."""
    from penny.cli import cfg
    from penny.intents.library import SentenceError, base_language, check_user_file
    from penny.plugins.loading import custom_sentences_dir

    folder = custom_sentences_dir(cfg())
    lang = base_language(language or cfg().assistant.language)
    files = sorted((folder / lang).glob("*.yaml")) if (folder / lang).is_dir() else []
    if not files:
        typer.echo(f"No sentence files in {folder / lang}. Add *.yaml files there (Home Assistant's "
                   "custom_sentences layout) to add phrasings or intents.")
        return
    reg = _registry(lang)
    failed = 0
    for path in files:
        try:
            summary = check_user_file(path, reg.router.library)
        except SentenceError as exc:
            failed += 1
            typer.echo(f"FAIL {exc}")
        else:
            typer.echo(f"ok   {path}: {summary}")
    raise typer.Exit(1 if failed else 0)


@intents_app.command("test")
def intents_test(sentence: str = typer.Argument(..., help="What you would say, in quotes."),
                 language: str | None = LANGUAGE) -> None:
    """Show which intent a sentence reaches, with its typed slots (and the other readings)."""
    reg = _registry(language)
    readings = list(reg.router.candidates(sentence))
    if not readings:
        meant = reg.suggest(sentence)
        typer.echo("No intent matches: this would go to the language model.")
        if meant:
            typer.echo(f"Closest request Penny knows: {meant!r} (it would ask: Did you say: {meant}?)")
        raise typer.Exit(1)
    for i, c in enumerate(readings):
        lead = "->" if i == 0 else "  "
        slots = ", ".join(f"{k}={_show(v)}" for k, v in c.slots.items()) or "no slots"
        origin = ", ".join(reg.router.library.sources.get(c.intent.sentences, []))
        typer.echo(f"{lead} {c.plugin}.{c.intent.name} ({c.intent.sentences}): {slots}   [{origin}]")


def _show(value) -> str:
    from datetime import timedelta

    from penny.plugins.dates import DayRange, When

    if isinstance(value, timedelta):
        return f"{value.total_seconds():g} s"
    if isinstance(value, DayRange):
        return f"{value.label} ({value.start:%Y-%m-%d}..{value.end:%Y-%m-%d})"
    if isinstance(value, When):
        return value.start.isoformat(timespec="minutes") + ("" if value.has_time else " (all day)")
    return repr(value) if isinstance(value, str) else str(value)
