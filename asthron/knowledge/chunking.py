"""Splitting markdown articles into passages small enough to quote and to prompt with."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$")
TARGET_CHARS = 700
MAX_CHARS = 1200


@dataclass(frozen=True)
class Chunk:
    heading: str
    text: str


def _paragraphs(lines: list[str]) -> list[str]:
    text = "\n".join(lines).strip()
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def chunk_markdown(body: str) -> list[Chunk]:
    """Split at headings, then pack paragraphs up to ~700 characters per chunk."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in body.replace("\r\n", "\n").split("\n"):
        match = HEADING_RE.match(line.strip())
        if match:
            sections.append((match.group(2).strip(), []))
        else:
            sections[-1][1].append(line)
    chunks: list[Chunk] = []
    for heading, lines in sections:
        current = ""
        for paragraph in _paragraphs(lines):
            while len(paragraph) > MAX_CHARS:
                cut = paragraph.rfind(" ", 0, MAX_CHARS)
                cut = cut if cut > MAX_CHARS // 2 else MAX_CHARS
                if current:
                    chunks.append(Chunk(heading, current))
                    current = ""
                chunks.append(Chunk(heading, paragraph[:cut].strip()))
                paragraph = paragraph[cut:].strip()
            if current and len(current) + len(paragraph) > TARGET_CHARS:
                chunks.append(Chunk(heading, current))
                current = paragraph
            else:
                current = f"{current}\n\n{paragraph}" if current else paragraph
        if current:
            chunks.append(Chunk(heading, current))
    return chunks
