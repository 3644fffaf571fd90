"""The incremental splitter and speech-friendly text, fed one character at a time like an LLM stream."""
import pytest

from penny.core.sentences import SentenceSplitter, speakable, split_sentences
from penny.core.speakable import number_words, ordinal_words, year_words


def stream(text: str, **kw) -> list[str]:
    s = SentenceSplitter(**kw)
    out: list[str] = []
    for ch in text:
        out += s.feed(ch)
    return out + s.flush()


SPLIT_CASES = [
    # (streamed text, expected chunks)
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("Dr. Smith is in. Ask him.", ["Doctor Smith is in.", "Ask him."]),
    ("Bring fruit, e.g. apples. Then go.", ["Bring fruit, for example apples.", "Then go."]),
    ("It grew 3.5 percent. Nice.", ["It grew three point five percent.", "Nice."]),
    ("The U.S. economy grew. Good.", ["The U.S. economy grew.", "Good."]),
    ("Meet at 10:30 today. Bye.", ["Meet at ten thirty today.", "Bye."]),
    ("See https://example.com/a.b?x=1 now. Done.", ["See example dot com now.", "Done."]),
    ("Visit www.python.org. It helps.", ["Visit python dot org.", "It helps."]),
    ("Wait... what? Really!", ["Wait...", "what?", "Really!"]),
    ("We need apples and pears etc. Then more.", ["We need apples and pears et cetera.", "Then more."]),
    ("Call Mr. Jones at 3 p.m. tomorrow.", ["Call Mister Jones at three p m tomorrow."]),
    ("Version 3.11.2 is out.", ["Version three point eleven point two is out."]),
    ("It costs $3.50 today.", ["It costs three dollars and fifty cents today."]),
    ("**Note:** this is *important*. Ok.", ["Note: this is important.", "Ok."]),
    ("## Shopping\n- milk\n- eggs\n", ["Shopping", "milk", "eggs"]),
    ("Steps:\n1. Boil water.\n2. Add pasta.\n", ["Steps:", "Boil water.", "Add pasta."]),
    ("Run this:\n```python\nprint('a. b. c')\nx = 1\n```\nThat prints it.", ["Run this:", "That prints it."]),
    ("Use `pip install x`. Done.", ["Use pip install x.", "Done."]),
    ("Great job 🎉! Keep going 👍.", ["Great job!", "Keep going."]),
    ("Unclosed code:\n```\nprint(1)", ["Unclosed code:"]),
    ("> quoted wisdom.", ["quoted wisdom."]),
    ("No punctuation at the end", ["No punctuation at the end"]),
    ("J. K. Rowling wrote it. So did I. Then we left.", ["J. K. Rowling wrote it.", "So did I.", "Then we left."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("The 2nd of May, 2024 was fine.", ["The second of May, twenty twenty-four was fine."]),
]


@pytest.mark.parametrize("text,expected", SPLIT_CASES, ids=[c[0][:30] for c in SPLIT_CASES])
def test_split_streamed_char_by_char(text, expected):
    assert stream(text) == expected


@pytest.mark.parametrize("text,expected", SPLIT_CASES, ids=[c[0][:30] for c in SPLIT_CASES])
def test_split_whole_text_matches_stream(text, expected):
    assert split_sentences(text) == expected


def test_first_clause_comes_early_then_whole_sentences():
    text = ("Well, the weather today looks sunny, with a high of 20°C. "
            "Later, clouds roll in, and it may rain, so take a coat.")
    assert stream(text) == [
        "Well,",  # an opening word is said on its own: the voice starts at once, the pause stays
        "the weather today looks sunny, with a high of twenty degrees Celsius.",
        "Later, clouds roll in, and it may rain, so take a coat.",
    ]
    assert stream("So, the weather today looks sunny, with a high of 20°C.") == [
        "So, the weather today looks sunny,", "with a high of twenty degrees Celsius."]


def test_first_clause_is_emitted_before_the_sentence_ends():
    s = SentenceSplitter()
    out = []
    for ch in "Sure thing, here it comes":
        out += s.feed(ch)
    assert out == []  # "Sure thing," is only two words: too short to say on its own
    s = SentenceSplitter()
    out = []
    for ch in "The forecast for today says,":
        out += s.feed(ch)
    assert out == []  # "says,1" would not be a clause break: the next character decides
    assert s.feed(" ") == ["The forecast for today says,"]  # the claims guard hands on text up to that space


@pytest.mark.parametrize("text", ["We met on the 2nd of May, ", "It opened on March 5, ", "The answer is 10, "])
def test_a_comma_a_number_may_follow_waits_for_the_next_word(text):
    s = SentenceSplitter()
    assert s.feed(text) == []  # "May, 2024" and "5, 2024" are not clause breaks
    assert s.feed("2024 was") == []
    assert s.feed(" fine. ") == [speakable(f"{text}2024 was fine.")]


def test_nothing_is_emitted_until_the_boundary_is_certain():
    s = SentenceSplitter()
    assert s.feed("It is 3.") == []  # could be 3.5
    assert s.feed("5 degrees") == []
    assert s.feed(". Next") == ["It is three point five degrees."]
    assert s.flush() == ["Next"]


def test_long_sentence_without_punctuation_is_cut_at_a_space():
    words = " ".join(["word"] * 150)
    chunks = stream(words, hard_max_chars=100)
    assert len(chunks) > 1 and all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks) == words


def test_splitter_resets_after_flush():
    s = SentenceSplitter()
    s.feed("First reply, with a clause here")
    s.flush()
    assert s.feed("Second reply has a clause, and") == ["Second reply has a clause,"]


SPEAKABLE_CASES = [
    ("Meet at 10:30 am on 2024-03-05.", "Meet at ten thirty a m on March fifth, twenty twenty-four."),
    ("At 7:05, 14:00 and 3pm.", "At seven oh five, fourteen o'clock and three p m."),
    ("It costs $1.5 million or €20.", "It costs one point five million dollars or twenty euros."),
    ("50% of 3.5 km at 20°C", "fifty percent of three point five kilometers at twenty degrees Celsius"),
    ("-5°F and 1 kg", "minus five degrees Fahrenheit and one kilogram"),
    ("I ran 5km in 25 min", "I ran five kilometers in twenty-five minutes"),
    ("In 1999 we had 1,234 cats in the 1990s",
     "In nineteen ninety-nine we had one thousand two hundred thirty-four cats in the nineteen nineties"),
    ("Pages 5-10 and 2010-2020", "Pages five to ten and twenty ten to twenty twenty"),
    ("Call 555-1234.", "Call five five five, one two three four."),
    ("Zip 02139", "Zip zero two one three nine"),
    ("See [the docs](http://x.y/z) and ![a cat](c.png)", "See the docs and a cat"),
    ("| a | b |", "a, b"),
    ("---", ""),
    ("🎉🎉", ""),
    ("snake_case & more :)", "snake case and more"),
    ("<b>bold</b> text", "bold text"),
    ("on March 5th and 21st of June", "on March fifth and the twenty-first of June"),
]


@pytest.mark.parametrize("text,expected", SPEAKABLE_CASES, ids=[c[0][:30] for c in SPEAKABLE_CASES])
def test_speakable(text, expected):
    assert speakable(text) == expected


def test_speakable_is_idempotent():
    for text, _ in SPEAKABLE_CASES + [(t, None) for t, _ in SPLIT_CASES]:
        once = speakable(text)
        assert speakable(once) == once


@pytest.mark.parametrize("n,words", [(0, "zero"), (13, "thirteen"), (42, "forty-two"), (100, "one hundred"),
                                     (1005, "one thousand five"), (2_000_017, "two million seventeen")])
def test_number_words(n, words):
    assert number_words(n) == words


def test_ordinals_and_years():
    assert [ordinal_words(n) for n in (1, 2, 3, 12, 20, 21, 100)] == [
        "first", "second", "third", "twelfth", "twentieth", "twenty-first", "one hundredth"]
    assert [year_words(y) for y in (1905, 1900, 2000, 2007, 2024)] == [
        "nineteen oh-five", "nineteen hundred", "two thousand", "two thousand seven", "twenty twenty-four"]


@pytest.mark.parametrize("text, first", [
    # A long first sentence without a comma starts at a joining word, streamed or whole.
    ("The weather today is sunny with a high of twenty degrees.", "The weather today is sunny"),
    ("It will rain this afternoon and clear up by the evening.", "It will rain this afternoon"),
    # Too few words on one side: the sentence stays whole.
    ("Salt and pepper are good.", "Salt and pepper are good."),
    ("I set a timer for ten minutes and it runs.", "I set a timer for ten minutes and it runs."),
    # A comma after one word is no clause; the joining word still starts the voice early.
    ("Indeed, I can do that with pleasure and right now.", "Indeed, I can do that"),
    # ...unless the word opens a reply on its own ("Okay, | timer set for ten minutes.").
    ("Sure, I can do that with pleasure and right now.", "Sure,"),
])
def test_a_long_first_sentence_starts_at_a_joining_word(text, first):
    whole = SentenceSplitter()
    assert (whole.feed(text) + whole.flush())[0] == first
    streamed, out = SentenceSplitter(), []
    for word in text.split(" "):
        out += streamed.feed(word + " ")
    assert (out + streamed.flush())[0] == first
    later = SentenceSplitter()
    assert later.feed("Okay. " + text)[:1] == ["Okay."]  # only the first chunk of a reply is cut early


@pytest.mark.parametrize("text, pieces", [
    ("Okay, timer set for ten minutes.", ["Okay,", "timer set for ten minutes."]),
    ("Okay, I'll remember that you parked on level 3.", ["Okay,", "I'll remember that you parked on level three."]),
    ("Okay. Timer set.", ["Okay.", "Timer set."]),
])
def test_an_opening_word_is_said_on_its_own(text, pieces):
    assert stream(text) == pieces


def test_no_clause_break_before_a_number():
    s = SentenceSplitter()
    out = s.feed("No,") + s.feed(" 5") + s.feed(" is bigger.")  # as tokens come: the space with the number
    assert out + s.flush() == ["No, five is bigger."]


def test_opening_words_are_english_only_and_for_streamed_replies():
    assert stream("Okay, timer set for ten minutes.", language="de") == ["Okay, timer set for ten minutes."]
    assert split_sentences("Okay, timer set for ten minutes.") == ["Okay, timer set for ten minutes."]  # penny say


def test_a_clause_the_claims_guard_lets_through_is_spoken_at_once():
    from penny.core.claims import ClaimGuard, Ledger

    guard, s = ClaimGuard(Ledger()), SentenceSplitter()
    out = []
    for token in ["The", " capital", " of", " Canada", " is", " Ottawa", ",", " and", " the", " friends"]:
        out += s.feed(guard.feed(token))
        if token == " and":  # the guard hands on "... Ottawa, " and keeps "and" until its clause ends
            assert out == ["The capital of Canada is Ottawa,"]
