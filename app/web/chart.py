"""The posture trend as an inline SVG line chart: geometry computed here, drawn by Jinja."""

from __future__ import annotations

from dataclasses import dataclass

from app.models import CONCERNS
from app.store.posture import WeekPosture

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 40
COLORS = dict(zip(CONCERNS, ("#2563eb", "#d97706", "#dc2626", "#059669"), strict=True))


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    week: str
    share: float


@dataclass(frozen=True, slots=True)
class Line:
    concern: str
    color: str
    points: tuple[Point, ...]

    @property
    def svg_points(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    lines: tuple[Line, ...]
    x_labels: tuple[tuple[float, str], ...]
    y_labels: tuple[tuple[float, str], ...]
    plot: tuple[float, float, float, float]  # left, top, right, bottom

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)


def trend(weeks: list[WeekPosture]) -> Chart:
    """One line per concern over the weeks that had images (a week with none has no share)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(weeks) - 1, 1)

    def x(index: int) -> float:
        return LEFT + index * step

    def y(share: float) -> float:
        return TOP + (1 - share) * plot_h

    lines = tuple(
        Line(
            concern=concern,
            color=COLORS[concern],
            points=tuple(
                Point(x(i), y(week.passing[concern]), week.week, week.passing[concern])
                for i, week in enumerate(weeks)
                if week.images
            ),
        )
        for concern in CONCERNS
    )
    every = max(1, len(weeks) // 6)
    x_labels = tuple(
        (x(i), week.week) for i, week in enumerate(weeks) if i % every == 0 or i == len(weeks) - 1
    )
    y_labels = tuple((y(share), f"{share:.0%}") for share in (0, 0.25, 0.5, 0.75, 1))
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        lines=lines,
        x_labels=x_labels,
        y_labels=y_labels,
        plot=(LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM),
    )
