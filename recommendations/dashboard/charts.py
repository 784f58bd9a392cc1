"""The dashboard's charts, drawn by matplotlib on the server as inline SVG (no JavaScript, no
CDN). Each function takes plain numbers and returns one `<svg>` element as text; none of them
touches the database or global pyplot state (a Figure per chart, safe in any thread)."""

import datetime as dt
import io
from collections.abc import Sequence

import matplotlib
import matplotlib.ticker
from matplotlib import dates as mdates
from matplotlib.figure import Figure

# Django admin's blue first; then a palette that stays apart in grey print.
COLOURS = ["#417690", "#e08e45", "#5b8e3e", "#b8453f", "#7b5ea7", "#8c7b6b", "#2f9e9b"]
BASELINE = "#999999"
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, the page's font
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}


def _colours(n: int) -> list[str]:
    """n distinct colours: the palette above, or matplotlib's tab20 for more series."""
    if n <= len(COLOURS):
        return COLOURS[:n]
    cmap = matplotlib.colormaps["tab20"]
    return [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(n)]


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(out, format="svg")
    text = out.getvalue()
    return text[text.index("<svg") :]


def _figure(
    width: float = 8.0,
    height: float = 2.8,
    *,
    left: float = 0.85,
    right: float = 0.2,
    top: float = 0.35,
    bottom: float = 0.5,
    grid: tuple[int, int] | None = None,
) -> tuple[Figure, object]:
    """One axes (or a `grid` of rows x columns of them) with fixed margins in inches (a
    layout engine would cost a second draw: two to three times the time of the chart)."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height), dpi=96)
        fig.subplots_adjust(
            left=left / width,
            right=1 - right / width,
            top=1 - top / height,
            bottom=bottom / height,
            wspace=0.45,
            hspace=0.55,
        )
        return fig, fig.subplots(*grid, squeeze=False) if grid else fig.subplots()


def _date_axis(ax: object, when: Sequence[dt.date] = ()) -> None:
    """Concise dates on x; runs a few seconds apart get a window of minutes around them."""
    if when and isinstance(when[0], dt.datetime):
        first, last = min(when), max(when)
        if last - first < dt.timedelta(minutes=10):
            ax.set_xlim(first - dt.timedelta(minutes=5), last + dt.timedelta(minutes=5))
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def empty(message: str) -> str:
    """A small placeholder where a chart has no data yet."""
    fig, ax = _figure(height=0.6, left=0.05, right=0.05, top=0.05, bottom=0.05)
    ax.axis("off")
    ax.text(0.0, 0.5, message, color="#666666", va="center")
    return _svg(fig)


def daily_stacked(
    days: Sequence[dt.date], series: dict[str, Sequence[float]], *, title: str, ylabel: str
) -> str:
    """Counts per day, one colour per series, stacked as steps (events per day by kind): one
    shape per series, so a long window draws as fast as a short one."""
    if not days:
        return empty(f"{title}: nothing in this period")
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure()
        ax.stackplot(
            days,
            *series.values(),
            labels=list(series),
            colors=_colours(len(series)),
            step="mid",
            linewidth=0,
        )
        ax.set_title(title, loc="left")
        ax.set_ylabel(ylabel)
        _date_axis(ax)
        ax.legend(loc="upper left", ncols=len(series), frameon=False, fontsize=8)
        ax.margins(y=0.15)
    return _svg(fig)


def daily_lines(
    days: Sequence[dt.date], series: dict[str, Sequence[float]], *, title: str, ylabel: str
) -> str:
    """One line per series over days (orders per day, new users per day), half width."""
    if not days:
        return empty(f"{title}: nothing in this period")
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(width=5.2, height=2.4)
        for colour, (name, values) in zip(_colours(len(series)), series.items(), strict=True):
            ax.plot(days, values, label=name, color=colour, linewidth=1.6)
        ax.set_title(title, loc="left")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        _date_axis(ax)
        if len(series) > 1:
            ax.legend(loc="upper left", frameon=False, fontsize=8)
    return _svg(fig)


def durations(runs: Sequence[str], jobs: dict[str, Sequence[float]], *, title: str) -> str:
    """A horizontal bar per pipeline run, split into its jobs' seconds (oldest at the top)."""
    if not runs:
        return empty(f"{title}: no runs yet")
    with matplotlib.rc_context(STYLE):
        legend = 0.2 * ((len(jobs) + 3) // 4) + 0.3
        fig, ax = _figure(height=0.3 * len(runs) + legend + 1.0, left=1.3, bottom=legend + 0.55)
        left = [0.0] * len(runs)
        for colour, (job, seconds) in zip(_colours(len(jobs)), jobs.items(), strict=True):
            ax.barh(runs, seconds, left=left, label=job, color=colour, height=0.7)
            left = [a + b for a, b in zip(left, seconds, strict=True)]
        ax.invert_yaxis()
        ax.set_xlabel("seconds")
        ax.set_title(title, loc="left")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="lower center", ncols=4, frameon=False, fontsize=8)
    return _svg(fig)


def metric_history(
    when: Sequence[dt.datetime],
    values: Sequence[float | None],
    baseline: Sequence[float | None],
    published: Sequence[bool],
    *,
    title: str,
    metric: str,
    baseline_name: str | None,
) -> str:
    """A model's offline metric per run against its baseline on the same split: two lines,
    the published runs as filled dots, the others hollow."""
    if not when:
        return empty(f"{title}: no runs yet")
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(right=2.2)
        ax.plot(when, values, color=COLOURS[0], linewidth=1.6, label=metric)
        if baseline_name and any(v is not None for v in baseline):
            ax.plot(
                when, baseline, color=BASELINE, linestyle="--", linewidth=1.4, label=baseline_name
            )
        shown = [(t, v) for t, v, p in zip(when, values, published, strict=True) if p]
        hidden = [(t, v) for t, v, p in zip(when, values, published, strict=True) if not p]
        if shown:
            ax.scatter(*zip(*shown, strict=True), color=COLOURS[0], zorder=3, label="published")
        if hidden:
            ax.scatter(
                *zip(*hidden, strict=True),
                facecolors="white",
                edgecolors=COLOURS[0],
                zorder=3,
                label="not published",
            )
        ax.set_title(title, loc="left")
        ax.set_ylabel(metric)
        _date_axis(ax, when)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return _svg(fig)


def trials(points: dict[str, tuple[Sequence[float], Sequence[float]]], *, metric: str) -> str:
    """Tuning trials: per parameter, a scatter of its value against the metric."""
    if not points:
        return empty("no tuning trials")
    columns = min(4, len(points))
    rows = (len(points) + columns - 1) // columns
    with matplotlib.rc_context(STYLE):
        fig, axes = _figure(
            2.3 * columns, 2.0 * rows, left=0.75, right=0.15, top=0.15, grid=(rows, columns)
        )
        for ax, (param, (xs, ys)) in zip(axes.flat, points.items(), strict=False):
            ax.scatter(xs, ys, s=14, color=COLOURS[0], alpha=0.8)
            ax.set_xlabel(param)
            if len(set(xs)) > 1 and min(xs) > 0 and max(xs) / min(xs) >= 50:
                ax.set_xscale("log")
        for ax in axes.flat[: len(points) : columns]:
            ax.set_ylabel(metric)
        for ax in axes.flat[len(points) :]:
            ax.axis("off")
    return _svg(fig)


def variant_rates(variants: Sequence[str], rates: dict[str, Sequence[float]], *, title: str) -> str:
    """Grouped bars: per outcome (like, cart, purchase), each variant's rate per user."""
    if not variants:
        return empty(f"{title}: no variants")
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure(height=2.6, right=1.6)
        width = 0.8 / len(variants)
        outcomes = list(rates)
        for n, (colour, variant) in enumerate(zip(_colours(len(variants)), variants, strict=True)):
            xs = [i + (n - (len(variants) - 1) / 2) * width for i in range(len(outcomes))]
            values = [rates[o][n] for o in outcomes]
            ax.bar(xs, values, width=width * 0.95, color=colour, label=variant)
            for x, v in zip(xs, values, strict=True):
                ax.annotate(f"{v:.1%}", (x, v), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(outcomes)), [f"{o} per user" for o in outcomes])
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(title, loc="left")
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.2)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return _svg(fig)
