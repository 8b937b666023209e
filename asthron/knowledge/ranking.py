"""Ranking passages for a visitor's question, and judging whether any of them answers it.

One analyser for both databases (so SQLite and PostgreSQL give the same answers): words are
lower-cased, stop words dropped and reduced to Snowball (Porter 2) stems, irregular forms to
their base ("teeth", "went"); a word the knowledge base does not contain is corrected to the
closest one it does (Damerau-Levenshtein distance 1, or 2 for longer words, via rapidfuzz) or
split in two ("giftcards"). Alternatives come from synonyms (built in, and the owner's, which
count as the word itself) and from general English (``knowledge.lexicon``: WordNet's common
senses, and phrasal verbs such as "put together" read as one term), and how visitors put
what they ask (``knowledge.phrasing``: "spread the cost" is finance, "leave my car" parking,
each one term). Chunks are scored with
BM25F over three fields (title, heading, body, weighted 4 : 2 : 1) and re-ranked by how much
of the question they cover, within two neighbouring sentences, and in their article's title.

**Answerability.** Every question term has an inverse document frequency; a term that occurs
nowhere in the knowledge base gets the highest one, because a rare word nothing mentions
("botox", "scooter") is the surest sign that the question is not covered; an everyday word
("today", "somewhere") or one that only says how ("literally", "frizzy") never weighs more
than a third of it. The judged passage's features (``Index.features``: the
IDF-weighted share of the question its article covers, within two neighbouring sentences,
only through synonyms, in its title, and the share no article mentions) are judged by the
models fitted on the development sets (``data/answerability.json``, made by
scripts/calibrate-answerability): by the words, two thresholds on the first two; with an
embedding model calibrated here, a logistic model that also reads how close in meaning the
passage is. Below them the assistant says it does not know instead of quoting a near miss.
A message asking two things is also answered when each part, judged on its own, is.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from asthron.knowledge import lexicon, phrasing
from asthron.knowledge.vocabulary import GENERIC_WORDS, LEMMAS, STEMS, STOP_WORDS

WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")

GENERIC_IDF_SHARE = 0.35
# A word nothing in the knowledge base mentions weighs this much more than the rarest word it
# does mention.
MISSING_WEIGHT = 1.0
# Built-in synonyms: each group is interchangeable (matched at a discount). The owner adds
# more on Dashboard → Knowledge → Synonyms (``knowledge.synonyms``).
BUILTIN_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("rent", "rental", "hire"),
    ("price", "cost", "costs", "charge", "fee", "much"),
    ("fix", "repair", "mend", "service"),
    ("guarantee", "warranty"),
    ("kid", "child", "son", "daughter"),
    ("bday", "birthday"),
    ("tmrw", "tomorrow"),
    ("cancel", "refund"),
    ("scared", "nervous", "anxious", "afraid", "fear", "phobia"),
    ("job", "career", "vacancy", "vacancies", "recruit", "cv"),
    ("car", "parking", "park"),
    ("phone", "call", "contact", "email", "number"),
    ("where", "address", "location", "find", "street", "directions"),
    ("swap", "exchange", "trade"),
    ("house", "home", "flat", "apartment"),
    ("pain", "hurt", "ache", "sore", "toothache"),
    ("assemble", "assembly", "build"),
    ("pulled", "extract", "extraction", "removed", "remove"),
    ("teach", "class", "course", "lesson", "learn"),
    ("wheelchair", "accessible", "accessibility", "step-free"),
    ("voucher", "gift"),
    ("cheap", "discount", "deal", "offer"),
    ("vegan", "plant"),
    ("open", "close"),
    ("deliver", "delivery", "shipping", "ship", "post"),
)
FIELD_WEIGHTS = {"title": 4.0, "heading": 2.0, "body": 1.0}
FIELD_B = {"title": 0.3, "heading": 0.3, "body": 0.75}
K1 = 2.0
GENERIC_WEIGHT = 0.5
BACKGROUND_DOCS = 50
COVERAGE_FLOOR = 0.5
# How much the best window of two sentences, rather than the passage as a whole, counts.
WINDOW_WEIGHT = 1.0
# How much the share of the question the article's title says counts: "what is your
# cancellation policy?" is the article titled "Cancelling…", not the one that says
# "cancellation policy" in passing (measured: 1.5, between 1 and 2, which measure the same).
TITLE_WEIGHT = 1.5
FUZZY_WEIGHT = 0.85
SYNONYM_WEIGHT = 0.6
# The owner's synonyms count as the word itself (above ``FUZZY_WEIGHT``: a full match).
OWNER_SYNONYM_WEIGHT = 0.9
# What makes a phrase a phrasal verb or an idiom ("put together", "get rid of", "turn up"):
# a particle or preposition after its first word. Phrases of content words alone ("credit
# card") are left to their words.
PARTICLES = STOP_WORDS | {"together", "away", "back", "apart", "aside", "along", "ahead", "around"}
# A word sharing a common sense with the question's (WordNet, ``knowledge.lexicon``): matched
# at a deeper discount than the curated synonyms, since a sense may not be the one meant.
LEXICON_WEIGHT = 0.5
# A visitor's phrase read as what articles call it (``knowledge.phrasing``): the same thing.
PHRASE_WEIGHT = 0.9
# Answerability (``answered``): fitted on the development sets of tests/eval by
# scripts/calibrate-answerability, which writes data/answerability.json: the shares of the
# question the judged passage must hold by its words ("coverage", "window"), and under
# "with_embeddings" a logistic model per embedding model family calibrated here. Any further
# passage shown must hold 30% of the question.
ANSWERABILITY_MODEL = json.loads(
    resources.files("asthron.knowledge").joinpath("data", "answerability.json").read_text()
)
PASSAGE_ANSWERABLE = 0.3
# What the models read, in ``Index.features`` (the model file names the same).
FEATURE_NAMES = ("coverage", "window", "missing", "by_synonym", "in_title")
# And with an embedding model calibrated here (``Index._judged``).
DENSE_FEATURE_NAMES = (*FEATURE_NAMES, "similarity", "agrees", "similarity_gap")

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=20000)
def stem(word: str) -> str:
    word = LEMMAS.get(word) or lexicon.base_form(word)
    if word in STEMS:
        return STEMS[word]
    if word[-1:] == "s" and word[:-1].isdigit():
        return word[:-1]  # "over 65s", "the 1990s": the number
    if word.endswith("'s"):
        word = word[:-2]
    return _stemmer.stemWord(word)


HOW_MUCH_RE = re.compile(r"\bhow\s+much\b", re.IGNORECASE)
HYPHEN_PREFIX_RE = re.compile(r"\b([^\W_]{1,2})-(?=[^\W_]{3})")


def words(text: str) -> list[str]:
    # "e-bike", "x-ray": a one- or two-letter prefix is part of the word ("ebike").
    return WORD_RE.findall(HYPHEN_PREFIX_RE.sub(r"\1", (text or "").lower()))


def sentences(text: str) -> list[str]:
    text = re.sub(r"^#{1,6}\s+", "", text or "", flags=re.MULTILINE)
    return [s.strip() for s in SENTENCE_RE.split(text) if s and s.strip()]


@lru_cache(maxsize=50000)
def lexicon_stems(word_or_phrase: str) -> frozenset[str]:
    """The stems of the single words sharing a common sense with ``word_or_phrase``."""
    found = set()
    for other in lexicon.related(word_or_phrase):
        if " " not in other and other not in STOP_WORDS:
            found.add(stem(other))
    return frozenset(found)


# Where a message asking two things divides: after a question mark, or at "and" / "also" /
# "plus" that begins a new question ("…, and can I pay by card?").
PART_SPLIT_RE = re.compile(
    r"\?+\s+|[,;]?\s+\b(?:and|also|plus)\s+(?=(?:can|could|do|does|did|is|are|was|will|would|"
    r"should|how|what|whats|when|where|which|who|why|i|im|you|your|my|there)\b)",
    re.IGNORECASE,
)


def question_parts(question: str) -> list[str]:
    """The questions a message asks, when it asks more than one (at most three)."""
    parts = [p.strip() for p in PART_SPLIT_RE.split(question or "") if p and p.strip()]
    return [p for p in parts if len(words(p)) >= 2][:3]


def synonym_groups(extra: Iterable[Iterable[str]] = ()) -> dict[str, dict[str, float]]:
    """Stem -> the stems it may stand for, each with the weight it matches at: the built-in
    groups at ``SYNONYM_WEIGHT``; the owner's (``extra``) at ``OWNER_SYNONYM_WEIGHT``, since
    the owner says they mean the same in this business."""
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for weight, source in ((SYNONYM_WEIGHT, BUILTIN_SYNONYMS), (OWNER_SYNONYM_WEIGHT, extra)):
        for group in source:
            stems = {stem(w) for phrase in group for w in words(phrase)}
            for s in stems:
                for other in stems - {s}:
                    groups[s][other] = max(weight, groups[s].get(other, 0.0))
    return groups


@dataclass(frozen=True)
class Doc:
    chunk_id: int
    article_id: int
    title: str
    heading: str
    text: str
    fields: dict[str, Counter]
    lengths: dict[str, int]
    stems: frozenset[str]
    sentences: tuple[str, ...] = ()
    sentence_stems: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Slot:
    """One word of the question, with the stems that may match it and their weights."""

    word: str
    alternatives: dict[str, float]
    idf: float  # of the best-known alternative; the highest IDF when none is known
    known: bool

    def weight_in(self, stems) -> float:
        """How fully ``stems`` hold this word: its best alternative's weight among them."""
        return max((w for s, w in self.alternatives.items() if s in stems), default=0.0)


def held(slots: Iterable[Slot], stems) -> float:
    """The IDF-weighted question words ``stems`` hold (each as fully as its best match)."""
    return sum(slot.idf * slot.weight_in(stems) for slot in slots)


@dataclass(frozen=True)
class Ranked:
    doc: Doc
    score: float
    coverage: float  # answerability of this passage alone (0..1)
    matched: frozenset[str]  # the slots' words it covers
    quote: tuple[str, ...] = ()
    window: float = 0.0  # the share of the question found in two neighbouring sentences
    lead: bool = False  # the passage answerability was judged on (``Index._judged``)
    similarity: float = 0.0  # cosine to the question of its article's nearest passage (dense)
    # The best article for one of the questions a message asks, and answering it
    # (``question_parts``): quoted beside the first.
    answers_part: bool = False


@dataclass
class Index:
    docs: list[Doc]
    synonyms: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.df: Counter = Counter()
        self.postings: dict[str, list[int]] = defaultdict(list)
        self.article_stems: dict[int, set[str]] = defaultdict(set)
        surface: Counter = Counter()
        totals: Counter = Counter()
        for i, doc in enumerate(self.docs):
            for s in doc.stems:
                self.df[s] += 1
                self.postings[s].append(i)
            self.article_stems[doc.article_id] |= doc.stems
            for name, length in doc.lengths.items():
                totals[name] += length
            for w in words(f"{doc.title} {doc.heading} {doc.text}"):
                surface[w] += 1
        self.position = {doc.chunk_id: i for i, doc in enumerate(self.docs)}
        n = max(1, len(self.docs))
        self.avg = {name: max(1.0, totals[name] / n) for name in FIELD_WEIGHTS}
        self.n = len(self.docs)
        self.max_idf = self._idf(0)
        self.surface = surface
        self.vocabulary = [w for w in surface if len(w) >= 3 and not w.isdigit()]
        words_seen = set(self.vocabulary)
        self.stem_vocabulary = sorted(
            {stem(w) for w in self.vocabulary if len(w) >= 5} - words_seen
        )
        self.known_stems = set(self.df)
        self.sorted_stems = sorted(self.known_stems)
        self.bigrams = set()
        for doc in self.docs:
            tokens = [stem(w) for w in words(f"{doc.title} {doc.heading} {doc.text}")]
            self.bigrams.update(itertools.pairwise(tokens))

    def _extensions(self, base: str) -> list[str]:
        """Known stems ``base`` is a short prefix of ("deliver" -> "deliveri")."""
        if len(base) < 4:
            return []
        import bisect

        out = []
        i = bisect.bisect_left(self.sorted_stems, base)
        while i < len(self.sorted_stems) and self.sorted_stems[i].startswith(base):
            if self.sorted_stems[i] != base and len(self.sorted_stems[i]) - len(base) <= 3:
                out.append(self.sorted_stems[i])
            i += 1
        return out[:5]

    def _idf(self, df: int) -> float:
        # BACKGROUND_DOCS pseudo-passages that mention nothing: in a small knowledge base a
        # word every article uses ("delivery" in a one-article base) still counts as specific.
        n = self.n + BACKGROUND_DOCS
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    # -- the question ---------------------------------------------------------------------

    def _correct(self, word: str) -> list[str]:
        """Known words a misspelt or run-together ``word`` probably meant (may be empty)."""
        if len(word) < 4 or word.isdigit():
            return []
        for cut in range(1, len(word) - 2):
            # Run together: "giftcards" is "gift cards" if the articles say "gift cards".
            left, right = word[:cut], word[cut:]
            if (stem(left), stem(right)) in self.bigrams:
                return [left, right]
        limit = 1 if len(word) < 9 else 2
        # The articles' words and their stems: "paymnet" is "payment" when the articles
        # only say "payments".
        candidates = [
            w
            for w in (*self.vocabulary, *self.stem_vocabulary, *STOP_WORDS)
            if abs(len(w) - len(word)) <= limit
        ]
        found = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=limit, limit=8)
        if not found:
            return []
        best = min(d for _, d, _ in found)
        # A typo rarely changes the first letter; ties go to stop words (the commonest
        # words), then to the word the articles use most.
        # Four letters: only a swap of two letters ("rnet") or a dropped one ("ther", "tuch");
        # a changed letter is as likely another word ("fees", "feet").
        options = [
            w
            for w, d, _ in found
            if d == best
            and w[0] == word[0]
            and (len(word) > 4 or sorted(w) == sorted(word) or len(w) == len(word) + 1)
        ]
        if not options:
            return []
        # Swapped letters are the commonest typo ("wheer": "where", not "wheel").
        choice = max(
            options,
            key=lambda w: (sorted(w) == sorted(word), w in STOP_WORDS, self.surface.get(w, 0)),
        )
        return [] if choice in STOP_WORDS else [choice]

    def slots(self, question: str) -> list[Slot]:
        question, phrases = phrasing.read_phrases(question or "")
        slots: list[Slot] = []
        seen: set[str] = set()
        read: list[phrasing.Phrase] = []  # the phrases read as one term, taken out below
        for phrase in phrases:
            stems = {stem(w) for w in phrase.meaning}
            alternatives = dict.fromkeys(stems & self.known_stems, PHRASE_WEIGHT)
            if not alternatives:
                # Only when the articles use none of its words as they are: a longer form
                # ("pregnan" -> "pregnancy"), never a different word ("pain" -> "painter").
                for s in stems:
                    for longer in self._extensions(s):
                        alternatives.setdefault(longer, PHRASE_WEIGHT)
            if not alternatives:
                continue  # its own words count one by one, as they would without it
            read.append(phrase)
            key = " ".join(sorted(stems))
            if key in seen:
                continue  # "spread the cost or pay monthly": one term, not two
            # The words it stands for, said too ("finance? can I spread the cost"), are
            # the same term.
            seen.update({key, *stems})
            idf = max(self._idf(self.df[s]) for s in alternatives)
            slots.append(Slot(phrase.text, alternatives, idf, True))
        # "How much" asks for a price, whatever follows.
        question = HOW_MUCH_RE.sub(" price ", phrasing.without(question, read))
        for word in self._terms(words(question)):
            if " " in word:
                # A phrase: its head word ("travel" of "travel to") and what the phrase means.
                base, alternatives = word, {}
                if base in seen:
                    continue
                head = stem(word.split()[0])
                if head in self.known_stems and word.split()[0] not in STOP_WORDS:
                    alternatives[head] = 1.0
                self._add_related(alternatives, [word])
            else:
                if word in STOP_WORDS or len(word) < 2 or stem(word) in seen:
                    continue
                if self._is_stop_word_typo(word):
                    continue
                base = stem(word)
                alternatives = {}
                if base in self.known_stems:
                    alternatives[base] = 1.0
                for longer in self._extensions(base):
                    alternatives.setdefault(longer, 0.9)
                fixed_words = []
                if not alternatives:
                    fixed_words = self._correct(word)
                    for fixed in fixed_words:
                        alternatives.setdefault(stem(fixed), FUZZY_WEIGHT)
                for s in [base, *alternatives]:
                    for other, weight in self.synonyms.get(s, {}).items():
                        if other in self.known_stems:
                            alternatives.setdefault(other, weight)
                self._add_related(alternatives, [word, *fixed_words])
            seen.add(base)
            known = [self._idf(self.df[s]) for s, w in alternatives.items() if w >= FUZZY_WEIGHT]
            if base in self.known_stems:
                idf = self._idf(self.df[base])
            elif known:
                idf = max(known)
            elif alternatives:
                # Known only through a synonym: as rare as its rarest synonym.
                idf = max(self._idf(self.df[s]) for s in alternatives)
            else:
                idf = self.max_idf * MISSING_WEIGHT
            if word in GENERIC_WORDS or lexicon.describes_only(word):
                # An everyday word ("somewhere", "help") or one that only says how
                # ("literally", "frizzy", "useless") is chat around the question, not what it
                # is about: whether or not some other article uses it, it never weighs more
                # than this.
                idf = min(idf, self.max_idf * GENERIC_IDF_SHARE)
            if not alternatives and len(word) <= 2:
                continue  # "ok", "xl": too short to mean anything on its own
            slots.append(Slot(word, alternatives, idf, bool(alternatives)))
        return slots

    def _is_stop_word_typo(self, word: str) -> bool:
        """A short word the articles never use that is a stop word with two neighbouring
        letters swapped ("yuo", "teh", "hwo", "waht"): too short for ``_correct``, and as a
        word nothing mentions it would count against answerability like a rare one."""
        if len(word) > 4 or stem(word) in self.known_stems:
            return False
        return any(
            word[:i] + word[i + 1] + word[i] + word[i + 2 :] in STOP_WORDS
            for i in range(len(word) - 1)
        )

    def _terms(self, tokens: list[str]) -> list[str]:
        """The question's words, with a phrasal verb or idiom the lexicon knows as one term
        ("put together", "get rid of"): its words alone would match the wrong passages."""
        phrases = lexicon.phrases()
        terms: list[str] = []
        i = 0
        while i < len(tokens):
            for size in range(lexicon.MAX_PHRASE_WORDS, 1, -1):
                part = tokens[i : i + size]
                if len(part) < size or not any(w in PARTICLES for w in part[1:]):
                    continue
                for head in lexicon.lemmas(part[0]) or [part[0]]:
                    phrase = " ".join([head, *part[1:]])
                    # Only a phrase that says something the articles use: else its words
                    # count one by one, as they would without the lexicon.
                    if phrase in phrases and lexicon_stems(phrase) & self.known_stems:
                        terms.append(phrase)
                        i += size
                        break
                else:
                    continue
                break
            else:
                terms.append(tokens[i])
                i += 1
        return terms

    def _add_related(self, alternatives: dict[str, float], forms: list[str]) -> None:
        for form in forms:
            for entry in lexicon.lemmas(form) or [form]:
                for other in lexicon_stems(entry):
                    if other in self.known_stems:
                        alternatives.setdefault(other, LEXICON_WEIGHT)
                    # "hurt" -> "injure", which the articles say as "injury".
                    for longer in self._extensions(other):
                        alternatives.setdefault(longer, LEXICON_WEIGHT)

    # -- scoring --------------------------------------------------------------------------

    def _tf(self, doc: Doc, s: str) -> float:
        total = 0.0
        for name, weight in FIELD_WEIGHTS.items():
            tf = doc.fields[name].get(s, 0)
            if tf:
                norm = 1 - FIELD_B[name] + FIELD_B[name] * doc.lengths[name] / self.avg[name]
                total += weight * tf / norm
        return total

    def rank(
        self,
        question: str,
        limit: int = 4,
        dense: Sequence[tuple[int, float]] = (),
        dense_model: dict | None = None,
    ) -> tuple[list[Ranked], bool]:
        """The best passage of each of the best ``limit`` articles, and whether the question
        is answerable from them. ``dense``: (chunk id, similarity) from an embedding model,
        best first; the first ``DENSE_FUSED`` give an article order fused with the lexical one
        (reciprocal rank fusion). ``dense_model``: the answerability model calibrated for
        that embedding model (``dense_model_for``), which also reads how close in meaning the
        passage is; None (a model not calibrated here, or no vectors) leaves answerability to
        the words, judged on the passage they rank best."""
        slots, ranked, _, similarity = self._ranked(question, dense)
        top, every_part_answered = self._top(question, ranked, slots, limit, similarity)
        if not top:
            return [], False
        lead, features, model = self._judged(top, slots, similarity, dense_model)
        # A message asking two things is answered when each of its questions is, judged on
        # its own: judged whole, each article holds only half of it ("what time do you open
        # on Saturdays, and is there parking nearby?" was declined).
        answerable = answered(model, features) or every_part_answered
        return [self._with_quote(r, slots, r.doc is lead.doc) for r in top], answerable

    def lead_features(
        self,
        question: str,
        limit: int = 4,
        dense: Sequence[tuple[int, float]] = (),
        dense_model: dict | None = None,
    ) -> tuple[int, dict[str, float]] | None:
        """The article answerability is judged on for ``question`` and the features it is
        judged by, as ``rank`` judges them: what scripts/calibrate-answerability fits the
        models to."""
        slots, ranked, _, similarity = self._ranked(question, dense)
        top, _ = self._top(question, ranked, slots, limit, similarity)
        if not top:
            return None
        lead, features, _ = self._judged(top, slots, similarity, dense_model)
        return lead.doc.article_id, features

    def _top(
        self,
        question: str,
        ranked: list[Ranked],
        slots: list[Slot],
        limit: int,
        similarity: dict[int, float],
    ) -> tuple[list[Ranked], bool]:
        """The passages shown, and whether the message asks more than one question and the
        best passage for each, shown among them, answers it (judged on that part alone)."""
        # The passages after the first are picked by what their words add (the fused order
        # decides the first): measured, the vectors' near-equal ranks crowd out the second
        # article a two-part question needs.
        top = self._diversify(ranked[: limit * 4], slots, limit)
        # A question asking two things ("how much is it, and can I pay by card?"): the best
        # article for each part comes right after the first, ranked on that part's words
        # alone (with the whole question's, one part's words drown the other's).
        parts = question_parts(question)
        answered_parts: list[int] = []  # the article answering each part judged answered
        if top and len(parts) > 1:
            by_article = {r.doc.article_id: r for r in ranked}
            picked = [top[0]]
            for part in parts:
                part_slots, part_ranked, _, _ = self._ranked(part, ())
                best = by_article.get(part_ranked[0].doc.article_id) if part_ranked else None
                if best is None:
                    continue
                # Judged on the part alone: does its best passage answer it? In an article of
                # several sections that passage may not be the one the whole message ranks
                # best: it is the one that stands for the part.
                if answered(ANSWERABILITY_MODEL, self.features(part_ranked[0], part_slots)):
                    best = replace(best, doc=part_ranked[0].doc, answers_part=True)
                    answered_parts.append(best.doc.article_id)
                at = next(
                    (i for i, r in enumerate(picked) if r.doc.article_id == best.doc.article_id),
                    None,
                )
                if at is None:
                    picked.append(best)
                elif not best.answers_part:
                    continue
                elif picked[at].doc.chunk_id == best.doc.chunk_id:
                    picked[at] = replace(picked[at], answers_part=True)
                elif all(r.doc.chunk_id != best.doc.chunk_id for r in picked):
                    picked.insert(at + 1, best)  # the article's other section, for this part
            ids = {r.doc.article_id for r in picked}
            top = (picked + [r for r in top if r.doc.article_id not in ids])[:limit]
        if similarity:
            top = [replace(r, similarity=similarity.get(r.doc.article_id, 0.0)) for r in top]
        shown = {r.doc.article_id for r in top}
        every_part_answered = len(parts) > 1 and len(answered_parts) == len(parts)
        return top, every_part_answered and shown.issuperset(answered_parts)

    def _judged(
        self,
        top: list[Ranked],
        slots: list[Slot],
        similarity: dict[int, float],
        dense_model: dict | None,
    ) -> tuple[Ranked, dict[str, float], dict]:
        """The passage answerability is judged on, its features and the model that judges.
        By the words alone: the passage they rank best. With vectors and a model calibrated
        for them: the first passage shown (the fused order's), with how close in meaning it
        is, whether the words agree it is the best, and how much nearer in meaning it is than
        any other article."""
        by_words = max(top, key=lambda r: r.score)
        if not similarity or dense_model is None:
            return by_words, self.features(by_words, slots), ANSWERABILITY_MODEL
        lead = top[0]
        others = [c for article, c in similarity.items() if article != lead.doc.article_id]
        features = self.features(lead, slots)
        features["similarity"] = lead.similarity
        features["agrees"] = 1.0 if lead is by_words else 0.0
        # Below zero when another article is nearer in meaning than the one shown.
        features["similarity_gap"] = lead.similarity - max(others, default=0.0)
        return lead, features, dense_model

    def _ranked(
        self, question: str, dense: Sequence[tuple[int, float]]
    ) -> tuple[list[Slot], list[Ranked], list[int], dict[int, float]]:
        """The question's slots; the best passage of every article that matches, best first;
        the articles the vectors fused in; and each article's cosine to the question."""
        slots = self.slots(question)
        if not slots or not self.docs:
            return slots, [], [], {}
        total_idf = sum(slot.idf for slot in slots) or 1.0
        candidates: set[int] = set()
        for slot in slots:
            for s in slot.alternatives:
                candidates.update(self.postings.get(s, ()))
        dense_articles: list[int] = []
        dense_docs: dict[int, int] = {}  # article -> its nearest passage
        similarity: dict[int, float] = {}  # article -> its nearest passage's cosine
        for position, (chunk_id, cosine) in enumerate(dense):
            i = self.position.get(chunk_id)
            if i is None:
                continue
            article_id = self.docs[i].article_id
            similarity.setdefault(article_id, cosine)
            # Only the nearest few are fused into the ranking; the rest tell how close in
            # meaning the passages the words found are (answerability).
            if article_id not in dense_docs and position < DENSE_FUSED:
                dense_docs[article_id] = i
                dense_articles.append(article_id)
                candidates.add(i)
        best_by_article: dict[int, Ranked] = {}
        for i in candidates:
            doc = self.docs[i]
            article = self.article_stems[doc.article_id]
            bm25, covered, matched = 0.0, 0.0, set()
            for slot in slots:
                contribution, in_article = 0.0, 0.0
                for s, weight in slot.alternatives.items():
                    tf = self._tf(doc, s) if s in doc.stems else 0.0
                    if tf:
                        idf = self._idf(self.df[s])
                        if slot.word in GENERIC_WORDS:
                            weight *= GENERIC_WEIGHT
                        contribution = max(contribution, weight * idf * tf * (K1 + 1) / (tf + K1))
                    if s in article:
                        in_article = max(in_article, weight)
                bm25 += contribution
                if in_article:
                    covered += slot.idf * in_article
                    if in_article >= FUZZY_WEIGHT:  # not through a synonym alone
                        matched.add(slot.word)
            coverage = covered / total_idf
            window = self._window(doc, slots) / total_idf
            titled = self._in_title(doc, slots) / total_idf
            score = bm25 * (
                COVERAGE_FLOOR + coverage + WINDOW_WEIGHT * window + TITLE_WEIGHT * titled
            )
            current = best_by_article.get(doc.article_id)
            if current is None or score > current.score:
                best_by_article[doc.article_id] = Ranked(
                    doc, score, coverage, frozenset(matched), (), window
                )
        for article_id, i in dense_docs.items():
            # Found by the vectors alone: its nearest passage stands for it.
            current = best_by_article.get(article_id)
            if current is None or current.score <= 0:
                best_by_article[article_id] = Ranked(self.docs[i], 0.0, 0.0, frozenset())
        ranked = sorted(best_by_article.values(), key=lambda r: (-r.score, r.doc.chunk_id))
        if dense_articles:
            fused = reciprocal_rank_fusion(
                [[r.doc.article_id for r in ranked if r.score > 0], dense_articles],
                weights=(1.0, DENSE_WEIGHT),
            )
            # Passages the words found, in fused order, then those only the vectors found.
            ranked.sort(
                key=lambda r: (r.score <= 0, -fused.get(r.doc.article_id, 0.0), r.doc.chunk_id)
            )
        return slots, ranked, dense_articles, similarity

    def features(self, lead: Ranked, slots: list[Slot]) -> dict[str, float]:
        """What answerability is judged on, each a share of the question's IDF, so that they
        mean the same in a knowledge base of five articles or five thousand (a score or a
        margin over the second passage would not): how much of the question the lead's
        article holds (``coverage``), within two neighbouring sentences (``window``), only
        through a synonym (``by_synonym``) or in its title and headings (``in_title``), and
        how much no article mentions at all (``missing``)."""
        total = sum(slot.idf for slot in slots) or 1.0
        article = self.article_stems[lead.doc.article_id]
        title = lead.doc.fields["title"].keys() | lead.doc.fields["heading"].keys()
        missing = by_synonym = in_title = 0.0
        for slot in slots:
            found = slot.weight_in(article)
            if not slot.known:
                missing += slot.idf
            elif 0 < found < FUZZY_WEIGHT:
                by_synonym += slot.idf
            if any(s in title for s in slot.alternatives):
                in_title += slot.idf
        return {
            "coverage": lead.coverage,
            "window": lead.window,
            "missing": missing / total,
            "by_synonym": by_synonym / total,
            "in_title": in_title / total,
        }

    def _in_title(self, doc: Doc, slots: list[Slot]) -> float:
        """The IDF-weighted question terms the article's title says: what an article is
        titled is what it is about, where a body may mention a word in passing."""
        return held(slots, doc.fields["title"])

    def _window(self, doc: Doc, slots: list[Slot]) -> float:
        """The IDF-weighted question terms found together in two neighbouring sentences (or
        one sentence and the title): matches close together are worth more than scattered."""
        title = doc.fields["title"].keys() | doc.fields["heading"].keys()
        sets = doc.sentence_stems or (frozenset(),)
        best = 0.0
        for i in range(len(sets)):
            near = sets[i] | (sets[i + 1] if i + 1 < len(sets) else frozenset()) | title
            best = max(best, held(slots, near))
        return best

    def _diversify(self, ranked: list[Ranked], slots: list[Slot], limit: int) -> list[Ranked]:
        """After the best passage, prefer passages that cover what the ones before do not
        (a question asking two things gets both articles near the top)."""
        if not ranked:
            return []
        chosen = [ranked[0]]
        rest = ranked[1:]
        idf = {slot.word: slot.idf for slot in slots}
        total = sum(idf.values()) or 1.0
        while rest and len(chosen) < limit:
            covered = set().union(*(r.matched for r in chosen))

            def gain(r: Ranked, covered=covered) -> float:
                # The share of what this passage matches that is new, and how much it adds.
                novel = sum(idf[w] for w in r.matched - covered)
                own = sum(idf[w] for w in r.matched) or 1.0
                return r.score * (0.3 + novel / own + novel / total)

            best = max(rest, key=gain)
            chosen.append(best)
            rest.remove(best)
        return chosen

    def _with_quote(self, ranked: Ranked, slots: list[Slot], lead: bool = False) -> Ranked:
        """The sentences of the passage that answer: those covering the most question terms,
        in their original order (at most two, plus the heading's context)."""
        parts = sentences(ranked.doc.text)
        scored = []
        for position, sentence in enumerate(parts):
            present = {stem(w) for w in words(sentence)}
            scored.append((held(slots, present), -position, sentence))
        chosen = [s for v, _, s in sorted(scored, reverse=True)[:2] if v > 0]
        if not chosen:
            chosen = parts[:1]
        quote = tuple(s for s in parts if s in chosen)
        return replace(ranked, quote=quote, lead=lead)


def answered(model: dict, features: dict[str, float]) -> bool:
    """Whether the judged passage answers the question: by the words alone, when its article
    holds the model's share of the question and two neighbouring sentences of it theirs;
    with vectors, when the logistic model's probability reaches its threshold."""
    if "weights" in model:
        return probability(model, features) >= model["threshold"]
    return features["coverage"] >= model["coverage"] and features["window"] >= model["window"]


def probability(model: dict, features: dict[str, float]) -> float:
    """A model's calibrated probability that the judged passage answers the question: a
    logistic model of ``features``, fitted on the development sets of tests/eval by
    scripts/calibrate-answerability."""
    z = model["bias"] + sum(weight * features[name] for name, weight in model["weights"].items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


# Answerability with an embedding model reads what the vectors say too (``Index._judged``),
# but a cosine means something different from one model to the next: only the model families
# calibrated here (ANSWERABILITY_MODEL["with_embeddings"], fitted with all-MiniLM-L6-v2 as
# Ollama's "all-minilm" serves it) have such a model; the others only fuse.
def dense_model_for(embedder_name: str) -> dict | None:
    """The answerability model calibrated for the embedder's model (its name ends with the
    model, as ``assistant.embeddings`` makes it: "ollama|<url>|all-minilm:l6-v2"), or None."""
    model = embedder_name.rsplit("|", 1)[-1].split(":", 1)[0].lower()
    model = model.rsplit("/", 1)[-1]  # "sentence-transformers/all-MiniLM-L6-v2"
    for family, calibrated in ANSWERABILITY_MODEL.get("with_embeddings", {}).items():
        if model.startswith(family):
            return calibrated
    return None


# Reciprocal rank fusion's constant (Cormack et al., 2009): a rank's weight is 1 / (K + rank).
RRF_K = 60


# The nearest passages fused into the ranking (of the more the caller passes for similarity).
DENSE_FUSED = 12
# How much the vectors' ranking counts beside the words' (1.0: equally).
DENSE_WEIGHT = 1.0


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[int, float]:
    """Each item's summed weight / (k + rank) over the rankings it appears in (rank from 1)."""
    fused: dict[int, float] = defaultdict(float)
    for index, ranking in enumerate(rankings):
        weight = weights[index] if weights is not None else 1.0
        for rank, item in enumerate(ranking, 1):
            fused[item] += weight / (k + rank)
    return dict(fused)


def make_doc(chunk_id: int, article_id: int, title: str, heading: str, text: str) -> Doc:
    fields = {
        "title": Counter(stem(w) for w in words(title) if w not in STOP_WORDS),
        "heading": Counter(stem(w) for w in words(heading) if w not in STOP_WORDS),
        "body": Counter(stem(w) for w in words(text) if w not in STOP_WORDS),
    }
    lengths = {name: sum(c.values()) for name, c in fields.items()}
    stems = frozenset(s for c in fields.values() for s in c)
    parts = tuple(sentences(text))
    sentence_stems = tuple(frozenset(stem(w) for w in words(p)) for p in parts)
    return Doc(
        chunk_id, article_id, title, heading, text, fields, lengths, stems, parts, sentence_stems
    )
