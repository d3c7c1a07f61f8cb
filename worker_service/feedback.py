"""The default processor: deterministic writing feedback computed from the text itself.

No model, no network: length, sentences, a Flesch reading-ease score, very long sentences,
overused and doubled words, and a short summary, as JSON. The same text always gets the same
feedback, which makes it a fair processor for demos and tests.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

from feedback_queue.processing import JobContext

LONG_SENTENCE_WORDS = 30
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_WORD = re.compile(r"[A-Za-z\u00C0-\u024F']+")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")
_STOPWORDS_TEXT = """
a an and are as at be but by for from has have he her his i in is it its of on or our she so
that the their them there they this to was we were which will with you your not no do does did
been being than then also can could would should may might must
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def syllables(word: str) -> int:
    """A vowel-group estimate, good enough for a readability score."""
    word = word.lower().strip("'")
    count = len(_VOWEL_GROUPS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(count, 1)


def analyse(text: str) -> dict[str, Any]:
    """Feedback for one text."""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if _WORD.search(s)]
    words = _WORD.findall(text)
    lowered = [w.lower() for w in words]
    n_words, n_sentences = len(words), max(len(sentences), 1)
    n_syllables = sum(syllables(w) for w in words)
    reading_ease = (
        206.835 - 1.015 * (n_words / n_sentences) - 84.6 * (n_syllables / n_words)
        if n_words
        else 0.0
    )
    long_sentences = [
        {"index": i, "words": len(_WORD.findall(s)), "start": s[:60]}
        for i, s in enumerate(sentences)
        if len(_WORD.findall(s)) > LONG_SENTENCE_WORDS
    ]
    counts = Counter(w for w in lowered if w not in STOPWORDS and len(w) > 2)
    threshold = max(3, n_words // 50)
    repeated = [{"word": w, "count": c} for w, c in counts.most_common(5) if c >= threshold]
    doubled = sorted({a for a, b in itertools.pairwise(lowered) if a == b})
    return {
        "words": n_words,
        "sentences": len(sentences),
        "average_sentence_words": round(n_words / n_sentences, 1),
        "reading_ease": round(reading_ease, 1),
        "reading_level": _level(reading_ease),
        "long_sentences": long_sentences,
        "repeated_words": repeated,
        "doubled_words": doubled,
        "summary": _summary(n_words, len(sentences), reading_ease, long_sentences, repeated),
    }


def _level(score: float) -> str:
    for floor, name in ((80, "easy"), (60, "plain"), (40, "fairly difficult"), (20, "difficult")):
        if score >= floor:
            return name
    return "very difficult"


def _summary(
    words: int,
    sentences: int,
    score: float,
    long_sentences: list[dict[str, Any]],
    repeated: list[dict[str, Any]],
) -> str:
    parts = [f"{words} words in {sentences} sentence{'s' if sentences != 1 else ''}"]
    parts.append(f"reading ease {score:.0f} ({_level(score)})")
    if long_sentences:
        parts.append(f"{len(long_sentences)} very long sentence(s): consider splitting them")
    if repeated:
        parts.append("often repeated: " + ", ".join(r["word"] for r in repeated[:3]))
    if not long_sentences and not repeated:
        parts.append("clear and varied; well done")
    return "; ".join(parts) + "."


def process(job: JobContext) -> dict[str, Any]:
    """The `feedback` processor."""
    return analyse(job.submission.content)
