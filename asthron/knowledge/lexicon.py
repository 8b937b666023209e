"""General English word knowledge for ranking: synonyms from the common senses of a word,
irregular forms, the words known as adjectives or adverbs but never as nouns, and which are
also verbs or have noun senses (so that a form is read only as one of a word of its kind),
all from WordNet 3.0 (``data/lexicon.tsv.gz``, made by ``scripts/build-lexicon``; nothing
reads WordNet itself at run time).

This is what lets a question find an article that says the same thing in other words ("put
together" a bike -> "assembly", "hiring" -> "employ", "gumshield" -> "mouthpiece") in any
trade, without a word list written for one business. It is loaded once per process, on first
use.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Phrases longer than this are not looked for in questions.
MAX_PHRASE_WORDS = 3


@dataclass(frozen=True)
class _Lexicon:
    related: dict[str, tuple[str, ...]]
    forms: dict[str, str]
    # Words with adjective or adverb senses and no noun sense ("literally", "complete").
    describing: frozenset[str]
    # Of those, the ones with a verb sense too ("complete", "slow").
    describing_verbs: frozenset[str]
    # Words with adjective or adverb senses and a noun sense too ("cold", "long").
    describing_nouns: frozenset[str]

    def is_adjective(self, word: str) -> bool:
        """Has an adjective or adverb sense."""
        return word in self.describing or word in self.describing_nouns

    def is_noun_or_verb(self, word: str) -> bool:
        """An entry with a noun or verb sense."""
        return word in self.related and (
            word not in self.describing or word in self.describing_verbs
        )


@lru_cache(maxsize=1)
def _load() -> _Lexicon:
    related: dict[str, tuple[str, ...]] = {}
    forms: dict[str, str] = {}
    marked: dict[str, set[str]] = {"!": set(), "%": set(), "^": set()}
    data = resources.files("asthron.knowledge").joinpath("data", "lexicon.tsv.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            key, _, value = line.rstrip("\n").partition("\t")
            if key.startswith("~"):
                forms[key[1:]] = value
            elif key[:1] in marked:
                marked[key[:1]].add(key[1:])
            else:
                related[key] = tuple(value.split("|"))
    return _Lexicon(
        related, forms, frozenset(marked["!"]), frozenset(marked["%"]), frozenset(marked["^"])
    )


def related(word_or_phrase: str) -> tuple[str, ...]:
    """Words and phrases sharing a common sense with ``word_or_phrase`` (lower case)."""
    return _load().related.get(word_or_phrase, ())


def base_form(word: str) -> str:
    """The base of an irregular form ("teeth" -> "tooth", "went" -> "go"), else ``word``."""
    return _load().forms.get(word, word)


def describes_only(word: str) -> bool:
    """Whether WordNet knows ``word`` (or the word it is a form of) as an adjective or adverb
    and never as a noun: "literally", "frizzy", "useless", never a thing a question is about."""
    describing = _load().describing
    return word in describing or any(lemma in describing for lemma in lemmas(word))


@lru_cache(maxsize=1)
def phrases() -> frozenset[str]:
    """The multi-word entries ("put together", "get rid of")."""
    return frozenset(key for key in _load().related if " " in key)


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


# The rules for comparatives ("cheaper", "biggest"): WordNet applies them to adjectives, and
# the others to nouns and verbs.
_COMPARATIVE = frozenset({"er", "est"})
# A base of two letters is an abbreviation ("tv", "pc") or one of these verbs ("going"); from
# a word that is an entry itself it is a symbol ("ne", neon's, from "need"; "ga" from "gas").
_TWO_LETTER_VERBS = frozenset({"be", "do", "go"})


def lemmas(word: str) -> list[str]:
    """The entries ``word`` may be a form of, itself first ("hiring" -> ["hire"])."""
    lexicon = _load()
    related, forms = lexicon.related, lexicon.forms
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
                new = candidate in related and candidate not in found
                if new and _is_form_of(lexicon, word, suffix, candidate):
                    found.append(candidate)
    return found


def _is_form_of(lexicon: _Lexicon, word: str, suffix: str, base: str) -> bool:
    """Whether the rule that takes ``suffix`` off ``word`` applies to ``base``'s kind of word."""
    if suffix in _COMPARATIVE:
        # "colder" is "cold", but "corner" is no form of "corn", nor "number", a noun and a
        # verb, of "numb".
        return lexicon.is_adjective(base) and (
            word not in lexicon.related or lexicon.is_adjective(word)
        )
    # "news" is no form of "new", nor "need" of "ne" (neon's symbol); "tvs" is of "tv".
    too_short = len(base) < 3 and word in lexicon.related and base not in _TWO_LETTER_VERBS
    return lexicon.is_noun_or_verb(base) and not too_short
