"""Small bar charts as plain numbers for an inline SVG the template draws (no JavaScript, no
inline styles: the strict CSP allows neither; colours come from dashboard.css classes)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, GAP, LABEL_SPACE = 280, 90, 6, 16


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    current: bool


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def summary(self) -> str:
        """The chart in words, for screen readers (the SVG's <title>)."""
        return f"{self.title}: " + ", ".join(f"{b.label} {b.value}" for b in self.bars)


def bar_chart(title: str, points: list[tuple[str, float]], fmt=str) -> BarChart:
    """Bars scaled to the largest value (an empty chart when every value is 0); the last bar
    is today's and is marked current."""
    plot = HEIGHT - LABEL_SPACE
    top = max((value for _, value in points), default=0) or 1
    count = max(len(points), 1)
    width = (WIDTH - GAP * (count - 1)) / count
    bars = []
    for index, (label, value) in enumerate(points):
        height = round(plot * value / top, 1) if value else 0
        # A zero still shows a hairline, so an empty day reads as "0", not "missing".
        height = max(height, 1)
        bars.append(
            Bar(
                x=round(index * (width + GAP), 1),
                y=round(plot - height, 1),
                width=round(width, 1),
                height=height,
                label=label,
                value=fmt(value),
                current=index == len(points) - 1,
            )
        )
    return BarChart(title, bars)


@dataclass(frozen=True)
class Split:
    """One bar split in two (AI answered | handed over), as fractions of the width."""

    left: int
    right: int

    @property
    def total(self) -> int:
        return self.left + self.right

    @property
    def left_width(self) -> float:
        return round(WIDTH * self.left / self.total, 1) if self.total else 0

    @property
    def right_width(self) -> float:
        return round(WIDTH - self.left_width, 1) if self.total else 0

    @property
    def left_percent(self) -> int:
        return round(100 * self.left / self.total) if self.total else 0
