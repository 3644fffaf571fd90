"""The `penny` command: one Typer app. Command bodies stay small and import their engines lazily."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from penny.cli_intents import intents_app
from penny.cli_models import models_app
from penny.config import PennyConfig, load_config, masked_dict
from penny.errors import PennyError

app = typer.Typer(help="Penny: a private, local-first voice assistant.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Show or check penny_config.json.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
app.add_typer(intents_app, name="intents")
log = logging.getLogger("penny")


class State:
    config_path: Optional[str] = None
    verbose: bool = False
    quiet: bool = False
    _cfg: Optional[PennyConfig] = None

    @property
    def cfg(self) -> PennyConfig:
        if self._cfg is None:
            self._cfg = load_config(self.config_path)
            from penny.privacy import start

            start(self._cfg)  # existing user data made private (once), before any command touches it
        return self._cfg


state = State()


def cfg() -> PennyConfig:
    """The effective config of this invocation (loaded once)."""
    return state.cfg


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"penny: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def main_options(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Path to penny_config.json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
    log_json: Optional[Path] = typer.Option(None, "--log-json", help="Also write JSON log lines to this file."),
) -> None:
    from penny.logs import setup_logging
    from penny.platform_check import warn_once
    from penny.privacy import quiet_libraries

    quiet_libraries()  # before any command imports onnxruntime (in-process callers skip main())
    state.config_path = str(config) if config else None
    state._cfg = None
    level = "DEBUG" if verbose else "WARNING" if quiet else "INFO"
    setup_logging(level, str(log_json) if log_json else None)
    warn_once()


@config_app.command("show")
def config_show() -> None:
    """Print the effective config (file + environment overrides), secrets masked."""
    c = cfg()
    typer.echo(f"# source: {c.source}", err=True)
    typer.echo(json.dumps(masked_dict(c), indent=2))


@config_app.command("check")
def config_check() -> None:
    """Validate the config; exit 0 when it is valid."""
    c = cfg()
    typer.echo(f"Config OK: {c.source}")


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Check every configured component and say how to fix what fails."""
    from penny.doctor import doctor as run_doctor

    raise typer.Exit(run_doctor(cfg(), as_json=as_json))



@app.command("run-file")
def run_file_cmd(
    question: Path = typer.Argument(..., help="A WAV/FLAC recording of a question."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write Penny's spoken reply to this WAV."),
    realtime: bool = typer.Option(False, "--realtime", help="Feed the audio at real-time pace, like a microphone."),
    sequential: bool = typer.Option(False, "--sequential", help="The seed's non-streaming pipeline (for comparison)."),
) -> None:
    """Run full voice turns from a file to a file and print each turn's latency trace."""
    import asyncio

    from penny.app.engines import Engines
    from penny.app.run_file import run_file

    async def go():
        engines = await Engines.load(cfg())
        try:
            return await run_file(engines, question, out, realtime=realtime, streaming=not sequential)
        finally:
            await engines.aclose()

    results = asyncio.run(go())
    if not results:
        fail("no speech was found in the recording.")
    for r in results:
        typer.echo(f"You:   {r.transcript}")
        typer.echo(f"Penny: {r.reply}")
        if r.trace is not None:
            typer.echo("trace: " + json.dumps(r.trace.to_dict()["ms"]))
    if out:
        typer.echo(f"Reply audio written to {out}")


@app.command()
def history(
    session: Optional[str] = typer.Argument(None, help="A session id; none lists the sessions."),
    fmt: str = typer.Option("markdown", "--format", "-f", help="Export format: json or markdown."),
) -> None:
    """List conversations, or export one (JSON or Markdown)."""
    from penny.config import memory_path
    from penny.memory.store import MemoryStore

    store = MemoryStore(memory_path(cfg()))
    if session is None:
        import time as _time

        for s in store.list_sessions():
            stamp = _time.strftime("%Y-%m-%d %H:%M", _time.localtime(s["updated"]))
            typer.echo(f"{s['id']}  {stamp}  {s['turns']} turns")
        return
    if not store.turns(session):
        fail(f"no conversation with id {session!r}; `penny history` lists them.")
    if fmt not in ("json", "markdown", "md"):
        fail("--format must be json or markdown.")
    typer.echo(store.export(session, fmt))


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Bind address (default server.host, 127.0.0.1). "
                                       "Any non-loopback address requires the access token."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default server.port, 8765)."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="HTTPS certificate (PEM)."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="HTTPS private key (PEM)."),
    self_signed: bool = typer.Option(False, "--self-signed", help="HTTPS with a generated self-signed certificate."),
) -> None:
    """Serve the browser voice client and the HTTP/WebSocket API."""
    from penny.server.serve import serve as run_server

    raise typer.Exit(run_server(cfg(), host, port, str(tls_cert) if tls_cert else None,
                                str(tls_key) if tls_key else None, self_signed))


@app.command()
def transcribe(
    files: list[Path] = typer.Argument(..., help="WAV/FLAC/OGG files (any rate, mono or stereo)."),
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Whisper model name or folder (default: stt.model)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Initial prompt: names and words to expect."),
) -> None:
    """Transcribe audio files; print each transcript with its latency."""
    import asyncio

    from penny.adapters.audio.wavfile import read_audio
    from penny.adapters.stt.factory import build_stt

    c = cfg()
    stt_cfg = c.stt.model_copy(update={"model": model}) if model else c.stt
    stt = build_stt(stt_cfg)
    stt.warmup()
    failed = 0
    for f in files:
        try:
            audio = read_audio(f)
            t = asyncio.run(stt.transcribe(audio, initial_prompt=prompt))
        except PennyError as exc:
            typer.echo(f"penny: {exc}", err=True)
            failed += 1
            continue
        rtf = t.processing_s / t.audio_s if t.audio_s else 0.0
        typer.echo(f"{f}: {t.text or '(no speech)'}")
        typer.echo(f"  {t.processing_s * 1000:.0f} ms for {t.audio_s:.2f} s of audio (RTF {rtf:.2f})", err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def listen(
    device: Optional[str] = typer.Option(None, "--device", "-d",
                                         help="Input device name or index (default: audio.input_device)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f",
                                        help="Listen to an audio file instead of the microphone."),
    realtime: bool = typer.Option(False, "--realtime", help="With --file: feed it at real-time pace."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write Penny's replies to this WAV."),
) -> None:
    """The hands-free assistant: wake word → VAD → STT → Penny → speaker. Ctrl-C stops."""
    import asyncio

    from penny.errors import DeviceNotFound

    c = cfg()
    try:
        if file is not None:
            from penny.adapters.audio.wavfile import WavFileSource

            source = WavFileSource(file, realtime=realtime, frame_ms=c.audio.frame_ms)
        else:
            from penny.adapters.audio.device import MicSource

            source = MicSource(device if device is not None else c.audio.input_device, frame_ms=c.audio.frame_ms)
        sink = _reply_sink(c, out)
    except DeviceNotFound as exc:
        fail(str(exc), 1)

    from penny.app.listen import listen_loop

    try:
        asyncio.run(listen_loop(c, source, sink, typer.echo))
    except PennyError as exc:
        fail(str(exc), 1)


def _reply_sink(c: PennyConfig, out: Optional[Path]):
    """Where replies play: a WAV file, else the speaker; with no speaker, replies are printed only."""
    from penny.errors import DeviceNotFound

    if out is not None:
        from penny.adapters.audio.sinks import WavFileSink

        return WavFileSink(out)
    try:
        from penny.adapters.audio.speaker import SpeakerSink

        return SpeakerSink(c.audio.output_device)
    except DeviceNotFound as exc:
        log.warning("%s Replies are printed only.", exc)
        return None


@app.command()
def devices() -> None:
    """List audio input and output devices (use the index or name in audio.input_device)."""
    from penny.adapters.audio.device import STILL_WORKS, list_devices

    found = list_devices()
    if not found:
        typer.echo(f"No audio devices found on this machine. {STILL_WORKS}")
        return
    for d in found:
        marks = ("*in " if d.is_default_input else "") + ("*out" if d.is_default_output else "")
        typer.echo(f"{d.index:3d}  in:{d.max_input_channels:<2d} out:{d.max_output_channels:<2d} "
                   f"{d.default_samplerate:7.0f} Hz  {d.name} [{d.hostapi}] {marks}".rstrip())


@app.command()
def chat(
    question: Optional[str] = typer.Argument(None, help="Ask one question and exit; without it, a REPL."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model to use (as `penny models` lists it)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Backend for --model (e.g. lmstudio)."),
) -> None:
    """Chat in text with the LLM chain: streams the answer, shows the backend and first-token latency."""
    from penny.app.chat import run_chat

    raise typer.Exit(run_chat(cfg(), question, model=model, backend=backend))


@app.command()
def say(
    text: str = typer.Argument(..., help="What to say (markdown, numbers and times are read naturally); - reads stdin."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write a WAV file instead of playing it."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="piper, espeak or gtts (default: tts.provider)."),
    voice: Optional[str] = typer.Option(None, "--voice", help="Piper .onnx path or name, espeak voice, or gTTS language."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the phrase cache."),
) -> None:
    """Speak text through the configured voice (or into a WAV file)."""
    import asyncio

    from penny.adapters.tts.factory import build_tts, speak

    c = cfg()
    if text == "-":
        text = sys.stdin.read()
    tts = build_tts(c, engine=engine, voice=voice, cache=False if no_cache else None)
    if out is not None:
        from penny.adapters.audio.sinks import WavFileSink

        sink = WavFileSink(out, sample_rate=tts.sample_rate)
    else:
        from penny.adapters.audio.speaker import SpeakerSink
        from penny.errors import DeviceNotFound

        try:
            sink = SpeakerSink(c.audio.output_device)
        except DeviceNotFound as exc:
            fail(f"{exc} Or write a file instead: penny say \"...\" --out reply.wav")

    async def run() -> dict:
        try:
            return await speak(tts, text, sink)
        finally:
            await sink.close()

    result = asyncio.run(run())
    where = f"wrote {out}" if out is not None else "played"
    typer.echo(f"{where}: {result['audio_s']:.2f} s of audio ({', '.join(result['engines']) or 'nothing to say'})",
               err=True)


@app.command()
def voices(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the voices Penny can speak with."""
    from penny.adapters.tts.factory import list_voices

    found = list_voices(cfg())
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for v in found:
        extra = " (default)" if v.get("default") else ""
        typer.echo(f"{v['engine']:7} {v['name']:28} {v.get('language', ''):8} {v.get('description', v.get('path', ''))}{extra}")


@app.command()
def bench(
    quick: bool = typer.Option(False, "--quick", help="A handful of requests (about a minute)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results folder (default benchmarks/results)."),
    update_readme: bool = typer.Option(False, "--update-readme", help="Rewrite the README section of the run "
                                       "(Latency, Understanding or Intents)."),
    components: Optional[bool] = typer.Option(None, "--components/--no-components",
                                              help="Also run the component benchmarks (default: not with --quick)."),
    accuracy: bool = typer.Option(False, "--accuracy", help="Only the task-success benchmark (did Penny do it?)."),
    no_accuracy: bool = typer.Option(False, "--no-accuracy", help="The full run without the task-success part."),
    baseline: bool = typer.Option(False, "--baseline", help="With --accuracy: Penny without the understanding "
                                  "work (greedy Whisper, no vocabulary, no rescoring, no clarification)."),
    soak: bool = typer.Option(False, "--soak", help="Only the soak run: 500 chat turns over 5 sessions plus voice "
                              "turns, latency per 100 turns and memory (--quick: 60 turns)."),
    intents: bool = typer.Option(False, "--intents", help="Only the router comparison: the old regex router and "
                                 "the hassil router on one labelled sentence corpus (right, wrong, missed, ms)."),
) -> None:
    """Latency (streaming vs sequential) and task success on spoken requests; writes JSON + PNG."""
    root = Path(__file__).resolve().parents[2]  # benchmarks/ lives in the source checkout, not the package
    if not (root / "benchmarks" / "__main__.py").is_file():
        fail("the benchmarks/ folder is not here: run `penny bench` from a source checkout of Penny.")
    sys.path.insert(0, str(root))
    from benchmarks import accuracy as accuracy_bench
    from benchmarks.__main__ import run as run_bench

    if intents:
        from benchmarks import intents_bench

        intents_bench.main(out=out, update=update_readme)
        return
    if soak:
        from benchmarks import soak as soak_bench

        soak_bench.main(quick=quick, out=out, config=state.config_path)
        return
    if not accuracy:
        run_bench(quick=quick, out=out, config=state.config_path, components=components,
                  update_readme=update_readme, verbose=log.isEnabledFor(logging.DEBUG))
    if accuracy or not (quick or no_accuracy):  # the full benchmark includes task success
        accuracy_bench.main(quick=quick, out=out, config=state.config_path, update_readme=update_readme,
                            baseline=baseline)


def main() -> None:
    from penny.privacy import quiet_libraries

    quiet_libraries()  # first thing: no library telemetry, no DNS look-ups (privacy.py says which and why)
    try:
        app()
    except PennyError as exc:
        typer.echo(f"penny: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
