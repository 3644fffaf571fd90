"""The data recipe for Penny's "Hey Penny" model: which voices, words and conditions go into training,
and which are held out for the benchmark (benchmarks/wake_bench.py) and never seen in training.

Everything is chosen by fixed lists and seeded random draws, so a rerun makes the same data
(Piper's own sampling noise aside: its noise_scale draws are not seedable from outside).
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

SR = 16000

WAKE_TEXTS = ["hey penny", "hey, penny", "Hey Penny!", "hey... Penny", "Hey Penny."]
NEAR_MISSES = ["hey Jenny", "hey Benny", "hey Kenny", "hey Lenny", "hey Denny", "happy", "happy penny",
               "Penny", "a penny", "hey pen", "spend a penny", "hey Siri", "hey Alexa", "hey Jarvis",
               "hey Henry", "any penny", "hey, any news", "a pretty penny", "hey honey", "hey buddy",
               "heavy", "hey Peggy", "hey many", "Jenny", "Benny", "penne", "hey pony", "hey Pennsylvania",
               "hay penny", "hey there", "okay", "hey"]
# more near-misses (make_data.py's "near2" jobs, added later so the first list's draws stay as they were):
# words that share "pen", "-enny" or "hey-an" sounds with the phrase, alone and in short phrases
NEAR_MISSES_2 = ["pen knee", "happening", "what's happening", "so many", "anything", "anybody", "any time now",
                 "hey everybody", "hey man", "heavenly", "penne", "a pen and paper", "the penalty", "a pendant",
                 "hey Benjamin", "hey Kenneth", "hey Jennifer", "any minute", "Kenny and Penny", "many thanks",
                 "plenty", "twenty", "hey Ben", "hey, anything new", "they pen it", "a penknife",
                 "hey Danny", "hey Annie", "Pennsylvania", "a pin and a needle", "spending money", "ready"]
# near-misses only the benchmark uses (other words, same trap)
HELDOUT_NEAR_MISSES = ["hey Jenny, come here", "Penny is late again", "a penny for your thoughts",
                       "hey Kenny, what's up", "happy birthday", "hey Benny, over here", "spend a penny",
                       "hey penne pasta", "hey, any more tea", "Jenny and Penny went out"]

# espeak-ng: accents (voice files) and speaker variants; the held-out ones are never in training.
TRAIN_ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-029", "en-gb-x-gbclan"]
HELDOUT_ACCENTS = ["en-gb-scotland", "en-us-nyc", "en-gb-x-gbcwmd"]
HELDOUT_VARIANTS = ["m6", "m7", "f4", "f5", "klatt3", "Andy", "Annie", "belinda", "grandpa", "steph2",
                    "michel", "quincy", "travis", "iven3", "Gene2"]
SKIP_VARIANTS = {"whisper", "whisperf", "Demonic", "croak", "UniRobot", "anikaRobot"}  # not a person's voice
TRAIN_RATES, HELDOUT_RATES = [115, 140, 165, 195, 230], [130, 180, 215]
TRAIN_PITCHES, HELDOUT_PITCHES = [20, 38, 52, 66, 85], [30, 60, 75]

# Piper's one voice (joe): its sampling knobs, and a pitch shift (sox, cents) for other "speakers".
TRAIN_PIPER = {"length_scale": [0.75, 0.85, 1.0, 1.15, 1.35], "noise_scale": [0.333, 0.6, 0.9],
               "noise_w": [0.3, 0.8, 1.0], "cents": [-400, -200, 0, 200, 400]}
HELDOUT_PIPER = {"length_scale": [0.92, 1.25], "noise_scale": [0.45, 0.75], "noise_w": [0.6],
                 "cents": [-300, 0, 300]}

# Conditions of the held-out set (benchmark); training draws its own from wider ranges.
CONDITIONS = ["clean", "noise-15db", "noise-5db", "reverb", "far"]

ESPEAK_VARIANTS_DIR = Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/!v")
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ALSA = Path("/usr/share/sounds/alsa")


def espeak_variants() -> list[str]:
    names = sorted(p.name for p in ESPEAK_VARIANTS_DIR.iterdir()) if ESPEAK_VARIANTS_DIR.is_dir() else []
    return [n for n in names if n not in SKIP_VARIANTS and " " not in n]


def train_variants() -> list[str]:
    return [v for v in espeak_variants() if v not in HELDOUT_VARIANTS]


def is_heldout_text(text: str) -> bool:
    """A quarter of the sentences (by a hash of their words) are for evaluation only."""
    return zlib.crc32(text.lower().encode()) % 4 == 0


_SENTENCE = re.compile(r"[A-Za-z ,.'?!;-]+")


def sentences() -> list[str]:
    """Plain English sentences for non-wake speech: the docstrings of Python's standard library (prose on
    every subject a program touches) and everyday household lines; sorted, so the same on every run."""
    import importlib
    import io
    import contextlib
    import sys

    found: set[str] = set(HOUSEHOLD)
    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3", "pydoc_data"}
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in skip:
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                mod = importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - some modules refuse to import on this platform
            continue
        docs = [mod.__doc__ or ""] + [getattr(getattr(mod, a, None), "__doc__", None) or "" for a in dir(mod)]
        for doc in docs:
            if not isinstance(doc, str):
                continue
            for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", doc)):
                words = s.split()
                if 5 <= len(words) <= 22 and _SENTENCE.fullmatch(s) and s[0].isupper() and s[-1] in ".?!":
                    found.add(s)
    return sorted(s for s in found if "penny" not in s.lower())


HOUSEHOLD = [
    "I was thinking we could go to the market on Saturday morning.",
    "The train was late again, so I missed the first half of the meeting.",
    "Did you see the game last night? The second half was unbelievable.",
    "My sister is coming over for dinner, we should buy some bread and cheese.",
    "I can never remember where I put my keys when I get home from work.",
    "Can you pass me the salt and the pepper please?", "What time does the movie start tonight?",
    "Turn the music down a little, I'm on the phone.", "Have you fed the cat yet this morning?",
    "We need to call the plumber about the kitchen sink.", "It's going to rain all weekend apparently.",
    "Hey, how was your day at school?", "Hey, do you want some tea?", "Happy birthday to you, my dear friend.",
    "I think the kids left their bikes out in the garden.", "Remind me to water the plants before we leave.",
    "The news said the bridge will be closed for repairs.", "Let's order pizza, I'm too tired to cook.",
    "Honey, have you seen my glasses anywhere?", "Hey buddy, come here and sit down.",
    "What's the weather going to be like tomorrow?", "Set the table, dinner is almost ready.",
    "She said she would call back after lunch.", "How much was the electricity bill this month?",
    "Jenny and Benny are coming to the party on Friday.", "Kenny fixed the fence last weekend.",
    "That recipe needs a cup of flour and two eggs.", "Hey, any idea where the remote went?",
    "I spent every last cent on that concert ticket.", "Please turn on the lights in the living room.",
    "Alexa, play some jazz.", "Hey Siri, what's the temperature outside?", "OK Google, set an alarm for seven.",
]
