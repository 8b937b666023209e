"""How visitors say what they ask about, read as what the articles call it.

A visitor writes "can I spread the cost?", "is there somewhere to leave my car?" or "I'm
expecting a baby"; the business's articles say "finance", "parking" and "pregnancy". The words
of such a phrase, matched one by one, find the wrong articles ("cost", "leave", "baby"), and
general English (WordNet, ``knowledge.lexicon``) does not join them. Each entry here is a
pattern for one way of saying a thing visitors ask service businesses about, and the words
articles use for it; ranking reads a phrase that matches as a single term of the question,
matched by any of those words (``ranking.Index.slots``). Declarative data, written for service
businesses in general, not for one trade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOT = r"(?:don'?t|didn'?t|do\s+not|did\s+not|can'?t|cannot|couldn'?t|won'?t|fail\s+to)"

VISITOR_PHRASES: tuple[tuple[str, str], ...] = (
    # Opening hours.
    (r"\bwhat\s+time\s+do\s+you\s+(?:shut|close|finish|open)\b", "hours open close"),
    (r"\bweekdays?\b", "monday friday weekday weekdays"),
    (r"\bweekends?\b", "saturday sunday weekend weekends"),
    # Paying.
    (
        r"\bspread\s+(?:the\s+)?(?:cost|payments?|price)\b"
        r"|\bpay\s+(?:monthly|in\s+instal+ments|over\s+time|in\s+parts|bit\s+by\s+bit|later)\b"
        r"|\bpay\s+(?:it\s+|them\s+)?off\b|\binstal+ments?\b",
        "finance instalments",
    ),
    (
        r"\b(?:ways?|means|methods?)\s+(?:of|to)\s+(?:pay\w*|settl\w*)\b|\bsettl\w*\s+up\b"
        r"|\b(?:payment|paying)\s+(?:methods?|options?)\b|\bhow\s+(?:can|do)\s+i\s+pay\b",
        "payment pay card cash",
    ),
    (r"\b(?:money|cash)\s+back\b", "refund refunds"),
    # Getting in touch, finding the place.
    (
        r"\bget\s+in\s+t\w{1,3}ch\b|\bget\s+hold\s+of\s+you\b|\breach\s+you\b"
        r"|\bspeak\s+to\s+(?:someone|a\s+person|a\s+human|a\s+real\s+person)\b"
        r"|\bring\s+you\b|\bgive\s+you\s+a\s+(?:ring|call|bell)\b",
        "contact phone call email",
    ),
    (
        r"\b(?:leave|put|stick|dump|park)\s+(?:my|the|our|a)\s+(?:car|van|vehicle|motor)\b",
        "parking park car",
    ),
    (r"\bhow\s+do\s+i\s+(?:get|find)\s+(?:to\s+)?you\b", "address location directions find"),
    # When someone comes, and coming without booking.
    (
        r"\b(?:what\s+time|when)\s+will\s+(?:you|the\s+\w+|your\s+\w+)\s+"
        r"(?:turn\s+up|arrive|get\s+here|come|be\s+here)\b",
        "arrive arrival",
    ),
    (
        r"\bjust\s+(?:rock|turn|show|pop|walk|drop)\s+(?:up|in)\b|\bwalk[\s-]?ins?\b"
        r"|\bwithout\s+(?:an?\s+)?(?:appointment|booking)\b",
        "walk",
    ),
    # Missed and late appointments.
    (
        rf"\b(?:i|we|you)\s+(?:just\s+)?{_NOT}\s+(?:turn|show)\s+up\b|\bno[\s-]?shows?\b"
        r"|\bmiss(?:ed)?\s+(?:my|an?|the)\s+(?:appointment|booking|session|lesson|class)\b",
        "missed miss noshow attend",
    ),
    (
        r"\b(?:turn|show|turning|showing)\s+up\s+(?:late|(?:\w+\s+){1,3}(?:after|past)\s+my)\b"
        r"|\brunning\s+late\b",
        "late",
    ),
    # Who the visitor is.
    (
        r"\bexpecting\s+(?:a\s+)?(?:baby|child)\b|\bpregnan\w*\b|\bbun\s+in\s+the\s+oven\b",
        "pregnant pregnancy expecting",
    ),
    (
        r"\bwheelchairs?(?:\s+users?)?\b|\bdisabled\s+access\b|\bmobility\s+(?:issues?|problems?)\b",
        "wheelchair accessible accessibility disabled ramp",
    ),
    (r"\b(?:at|go\s+to|attend\w*|in)\s+(?:uni|university|college)\b", "student students"),
    (
        r"\bpensioners?\b|\bover[\s-]*(?:60|65|70)s\b|\boaps?\b|\bsenior\s+citizens?\b"
        r"|\bretired\b",
        "pensioner pensioners senior seniors concession",
    ),
    # Jobs.
    (
        r"\b(?:are\s+you|are\s+u|you|u)\s+(?:hiring|recruiting)(?!\s+out)\b"
        r"|\blooking\s+for\s+(?:staff|people|more\s+staff)\s+to\b|\bjob\s+openings?\b"
        r"|\bwork\s+for\s+you\s+(?:guys|lot)\b",
        "jobs job vacancies careers recruiting",
    ),
    # Fetching and collecting.
    (
        r"\bcome\s+(?:and|to)\s+(?:get|collect|pick\s+up|fetch)\b",
        "collection collect pick",
    ),
    (
        r"\bpick\s+(?:it|them|the\s+order|my\s+order)\s+up\s+(?:myself|in\s+(?:store|person))\b"
        r"|\bclick\s+and\s+collect\b",
        "collect collection pick",
    ),
    # How far ahead.
    (
        r"\bhow\s+far\s+(?:in\s+advance|ahead)\b|\bhow\s+much\s+(?:notice|warning)\b|\bhow\s+early\s+should\b",
        "advance notice ahead",
    ),
    # About the business.
    (
        r"\bwho\s+(?:set|started)\s+(?:it|the\s+(?:business|company|shop))\s+up\b"
        r"|\bhow\s+long\s+(?:have\s+you|has\s+the\s+(?:business|company|shop))\s+been\s+"
        r"(?:going|running|around|in\s+business|trading|open)\b|\bwho\s+(?:owns|runs)\b",
        "founded started established history",
    ),
    # Trying before buying.
    (
        r"\btest\s+(?:ride|drive)\b|\btry\s+(?:it|one|them)\s+out\b|\bfor\s+a\s+spin\b"
        r"|\btry\s+before\s+(?:i|you)\s+buy\b",
        "test trial demo",
    ),
    # Pain and nerves, as visitors put them.
    (
        r"\bkilling\s+me\b|\bin\s+agony\b|\breally\s+hurts?\b|\bin\s+(?:a\s+lot\s+of\s+)?pain\b",
        "pain emergency",
    ),
    (
        r"\bbricking\s+it\b|\bterrified\b|\bterrifies\b|\bterrifying\b|\bpetrified\b"
        r"|\bfreaking\s+out\b|\bdread(?:ing|ed|ful)?\b",
        "nervous anxious scared fear",
    ),
    (r"\btaxman\b|\bthe\s+revenue\b", "hmrc tax"),
    (r"\bget\s+(?:me\s+)?ready\s+for\b", "prepare preparation"),
    # Age.
    (
        r"\b(?:what|minimum|youngest|lowest)\s+age\b|\bhow\s+old\s+(?:do|does|must|should|"
        r"has|have)\b|\bage\s+limit\b",
        "age minimum old",
    ),
    (
        r"\bmy\s+(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)[\s-]*"
        r"(?:year|yr)s?[\s-]*old\b(?!\s+(?:phone|iphone|laptop|tablet|ipad|car|van|boiler|"
        r"computer|bike|house|sofa|fridge|machine))|\bmy\s+(?:toddler|little\s+one)\b",
        "child children kid",
    ),
    (r"\bteenagers?\b|\bteens?\b|\bunder[\s-]*1[678]s?\b", "teenager teen under guardian"),
    # Coming to the visitor.
    (
        r"\bcome\s+(?:out\s+)?to\s+(?:see|visit)\s+(?:me|us|clients|customers|people)\b"
        r"|\bhome\s+visits?\b|\bcome\s+to\s+(?:my|our)\s+(?:home|house|place)\b",
        "visit visits home mobile",
    ),
    # Bringing someone along.
    (
        r"\bbring\s+(?:a|my)\s+(?:mate|friend|partner|pal)\b|\bguest\s+pass\b",
        "guest guests friend",
    ),
    # Hiring the place.
    (
        r"\bprivate\s+(?:party|parties|event|events|hire|function)\b"
        r"|\b(?:book|hire|rent)\s+(?:the|your)\s+(?:whole\s+)?(?:place|venue|cafe|shop|space|"
        r"room|studio|salon)\b",
        "private hire event events",
    ),
    # Sending without saying who from.
    (
        r"\bwithout\s+(?:\w+\s+){0,3}(?:finding\s+out|knowing)\s+(?:who|it\s+(?:was|is|came))\b"
        r"|\banonymous(?:ly)?\b",
        "anonymous anonymously",
    ),
    # What happens to what is not sold.
    (
        r"\b(?:don'?t|do\s+not|didn'?t)\s+sell\b|\bunsold\b|\bleft\s*overs?\b",
        "leftover unsold waste donate",
    ),
    # Loss and sympathy.
    (
        r"\bpassed\s+away\b|\blost\s+(?:her|his|my|their|our)\s+(?:husband|wife|mum|dad|"
        r"mother|father|partner|son|daughter|nan|gran|grandma|grandad)\b|\bbereave\w*\b",
        "funeral sympathy bereavement",
    ),
    # Urgent help.
    (
        r"\b(?:come|someone)\s+(?:out\s+)?(?:tonight|right\s+now|asap|urgently)\b"
        r"|\bemergenc(?:y|ies)\b",
        "emergency urgent",
    ),
    # Complaints.
    (
        r"\b(?:unhappy|not\s+happy|dissatisfied|not\s+satisfied|not\s+impressed)\b"
        r"|\bcomplain\w*\b",
        "complaint complaints complain unhappy",
    ),
)

PATTERNS: tuple[tuple[re.Pattern, tuple[str, ...]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), tuple(meaning.split()))
    for pattern, meaning in VISITOR_PHRASES
)


@dataclass(frozen=True)
class Phrase:
    """A visitor phrase found in a question: where it is, as written, and the words articles
    use for it."""

    start: int
    end: int
    text: str
    meaning: tuple[str, ...]


def read_phrases(question: str) -> tuple[str, list[Phrase]]:
    """The question with typographic apostrophes made plain (phone keyboards type "don’t"),
    and the visitor phrases in it, in order, none overlapping another (an earlier entry
    wins)."""
    question = question.replace("\u2019", "'").replace("\u2018", "'")
    found: list[Phrase] = []
    for pattern, meaning in PATTERNS:
        for match in pattern.finditer(question):
            if any(match.start() < p.end and p.start < match.end() for p in found):
                continue
            text = " ".join(match.group(0).lower().split())
            found.append(Phrase(match.start(), match.end(), text, meaning))
    return question, sorted(found, key=lambda p: p.start)


def without(question: str, phrases: list[Phrase]) -> str:
    """``question`` with ``phrases`` taken out (each leaves a space)."""
    parts, at = [], 0
    for phrase in phrases:
        parts.append(question[at : phrase.start])
        at = phrase.end
    parts.append(question[at:])
    return " ".join(parts)
