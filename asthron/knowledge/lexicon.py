"""General English word knowledge for ranking: synonyms from the common senses of a word,
irregular forms, and the words known only as adjectives or adverbs, all from WordNet 3.0
(``data/lexicon.tsv.gz``, made by ``scripts/build-lexicon``; nothing reads WordNet itself at
run time).

This is what lets a question find an article that says the same thing in other words ("put
together" a bike -> "assembly", "hiring" -> "employ", "gumshield" -> "mouthpiece") in any
trade, without a word list written for one business. It is loaded once per process, on first
use.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

# Phrases longer than this are not looked for in questions.
MAX_PHRASE_WORDS = 3


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, tuple[str, ...]], dict[str, str], frozenset[str]]:
    related: dict[str, tuple[str, ...]] = {}
    forms: dict[str, str] = {}
    describing: set[str] = set()
    data = resources.files("asthron.knowledge").joinpath("data", "lexicon.tsv.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            key, _, value = line.rstrip("\n").partition("\t")
            if key.startswith("~"):
                forms[key[1:]] = value
            elif key.startswith("!"):
                describing.add(key[1:])
            else:
                related[key] = tuple(value.split("|"))
    return related, forms, frozenset(describing)


def related(word_or_phrase: str) -> tuple[str, ...]:
    """Words and phrases sharing a common sense with ``word_or_phrase`` (lower case)."""
    return _load()[0].get(word_or_phrase, ())


def base_form(word: str) -> str:
    """The base of an irregular form ("teeth" -> "tooth", "went" -> "go"), else ``word``."""
    return _load()[1].get(word, word)


def describes_only(word: str) -> bool:
    """Whether WordNet knows ``word`` (or the word it is a form of) only as an adjective or
    adverb: "literally", "frizzy", "useless", never a thing a question is about."""
    describing = _load()[2]
    return word in describing or any(lemma in describing for lemma in lemmas(word))


@lru_cache(maxsize=1)
def phrases() -> frozenset[str]:
    """The multi-word entries ("put together", "get rid of")."""
    return frozenset(key for key in _load()[0] if " " in key)


# WordNet's detachment rules (morphy(7WN)): how an inflected form ends, and what its base
# ends with instead.
_DETACH = (
    ("ies", "y"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("sses", "ss"),
    ("xes", "x"),
    ("zes", "z"),
    ("men", "man"),
    ("es", "e"),
    ("es", ""),
    ("s", ""),
    ("ing", "e"),
    ("ing", ""),
    ("ed", "e"),
    ("ed", ""),
    ("est", ""),
    ("er", ""),
)


# The rules for comparatives ("cheaper", "biggest"): WordNet applies them to adjectives only.
_COMPARATIVE = frozenset({"er", "est"})


def lemmas(word: str) -> list[str]:
    """The entries ``word`` may be a form of, itself first ("hiring" -> ["hire"])."""
    related, forms, describing = _load()
    found = [word] if word in related else []
    if word in forms and forms[word] in related:
        found.append(forms[word])
    for suffix, replacement in _DETACH:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            base = word[: len(word) - len(suffix)] + replacement
            bases = [base]
            # "stopped" -> "stop", "running" -> "run".
            if len(base) >= 3 and base[-1] == base[-2]:
                bases.append(base[:-1])
            for candidate in bases:
                if suffix in _COMPARATIVE:
                    if word in related or candidate not in describing:
                        # "cheaper" is "cheap", but "corner" is not "corn" nor "dinner" "din".
                        continue
                elif candidate in describing or len(candidate) < 3:
                    # The other rules are for nouns and verbs: "news" is no form of "new",
                    # and "need" none of "ne" (neon's symbol), nor "gas" of "ga".
                    continue
                if candidate in related and candidate not in found:
                    found.append(candidate)
    return found
