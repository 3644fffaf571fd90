"""`penny transcribe`, `listen`, `devices`, `say`, `voices`: the commands that hear or speak."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from penny.config import PennyConfig
from penny.errors import PennyError

log = logging.getLogger("penny")


def cfg() -> PennyConfig:
    from penny.cli import cfg as loaded

    return loaded()


def fail(message: str, code: int = 1) -> None:
    from penny.cli import fail as failed

    failed(message, code)


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
    echo = None
    try:
        if file is not None:
            from penny.adapters.audio.wavfile import WavFileSource

            source = WavFileSource(file, realtime=realtime, frame_ms=c.audio.frame_ms)
        else:
            from penny.adapters.audio.device import MicSource
            from penny.adapters.audio.echo import for_speaker

            echo = for_speaker(c.audio) if out is None else None  # one canceller for the mic and the speaker
            source = MicSource(device if device is not None else c.audio.input_device, frame_ms=c.audio.frame_ms,
                               echo=echo)
        sink = _reply_sink(c, out, echo)
        if sink is None and file is None:
            source.echo = None  # no speaker: nothing of Penny's to cancel
    except DeviceNotFound as exc:
        fail(str(exc), 1)

    from penny.app.listen import listen_loop

    try:
        asyncio.run(listen_loop(c, source, sink, typer.echo))
    except PennyError as exc:
        fail(str(exc), 1)


def _reply_sink(c: PennyConfig, out: Optional[Path], echo=None):
    """Where replies play: a WAV file, else the speaker; with no speaker, replies are printed only."""
    from penny.errors import DeviceNotFound

    if out is not None:
        from penny.adapters.audio.sinks import WavFileSink

        return WavFileSink(out)
    try:
        from penny.adapters.audio.speaker import SpeakerSink

        return SpeakerSink(c.audio.output_device, echo=echo, output_latency_ms=c.audio.output_latency_ms)
    except DeviceNotFound as exc:
        log.warning("%s Replies are printed only.", exc)
        return None


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


COMMANDS = [transcribe, listen, devices, say, voices]
