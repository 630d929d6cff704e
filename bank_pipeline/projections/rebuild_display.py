"""A rebuild's progress as rich progress bars, one per phase (for the CLI and the bench)."""

from collections.abc import Callable

from rich.progress import Progress, TaskID

from bank_pipeline.projections.rebuild import RebuildProgress


def phase_bars(progress: Progress) -> Callable[[RebuildProgress], None]:
    """An `on_progress` for rebuild(): a bar per phase, the previous one completed when the next starts."""
    bars: dict[str, TaskID] = {}

    def show(step: RebuildProgress) -> None:
        if step.phase not in bars:
            for bar in bars.values():
                progress.update(bar, total=progress.tasks[bar].total or 1, completed=progress.tasks[bar].total or 1)
            bars[step.phase] = progress.add_task(f"rebuild: {step.phase}", total=None, detail="")
        progress.update(bars[step.phase], completed=step.done, total=step.total or None, detail=step.detail)

    return show
