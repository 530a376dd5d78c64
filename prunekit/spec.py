"""``PruneSpec``: one pruning request — how neurons are scored and selected, to which budget, in how many
cuts — as the Python API takes it, ``prunekit run``/``sweep``/``prune`` build it from their flags (each
field is a flag, declared here once) and run.json and the sweep's cells record it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from prunekit.budget import ALLOCATIONS, Budget
from prunekit.errors import BadInput
from prunekit.flags import flag
from prunekit.protocols import Scorer, Selector
from prunekit.schedule import check as check_schedule


@dataclass(frozen=True)
class PruneSpec:
    """What to prune and how. ``scorer`` and ``selector`` are registered names or objects (see
    :class:`prunekit.plugin.Scorer`); the budget is ``width`` (the widest prunable layer's new width,
    the others shrink alike) or ``keep`` (a fraction of the parameters), spread by ``allocation`` and
    rounded to multiples of ``round_to``; ``steps`` > 1 cuts gradually along ``schedule``; ``refit``
    re-solves the layers that lost inputs by least squares; ``seed`` seeds scoring and selection."""

    scorer: str | Scorer = field(default="w_out", metadata=flag("Scorer name (see `prunekit plugins`).", cli_type=str))
    selector: str | Selector = field(
        default="coreset", metadata=flag("Selector name (see `prunekit plugins`).", cli_type=str)
    )
    width: int | None = field(
        default=None,
        metadata=flag("Width of the widest prunable layer after pruning; others shrink alike. Default: half of it."),
    )
    keep: float | None = field(default=None, metadata=flag("Fraction of parameters to keep, in (0, 1]."))
    allocation: str = field(
        default="uniform", metadata=flag("uniform: one ratio for every layer; global: widths from scores.")
    )
    round_to: int | str = field(
        default=1,
        metadata=flag(
            "Keep widths that are multiples of N (16 suits CPU matrix kernels, 8 GPU tensor cores); 1: exact; auto: "
            "the multiple this device's kernels run fastest, measured once per machine, within 1 % of the budget.",
            cli_type=str,
            parse=lambda text: parse_round_to(text),
        ),
    )
    refit: bool = field(
        default=False,
        metadata=flag("Re-solve layers that lost inputs by least squares on calibration data.", "--refit"),
    )
    steps: int = field(
        default=1,
        metadata=flag(
            "Prune gradually: N cuts to the budget, re-scoring before each, the retraining split between them."
        ),
    )
    schedule: str = field(
        default="cubic", metadata=flag("Widths along the --steps cuts: cubic (AGP: big cuts first) or linear.")
    )
    seed: int = field(default=0, metadata=flag("Seed for training, sampling and selection."))

    def __post_init__(self) -> None:
        if self.allocation not in ALLOCATIONS:
            raise BadInput(f"--allocation must be one of {', '.join(ALLOCATIONS)}, got {self.allocation!r}")
        if self.round_to != "auto" and (not isinstance(self.round_to, int) or self.round_to < 1):
            raise BadInput(f"--round-to must be a positive integer or auto, got {self.round_to!r}")
        check_schedule(self.steps, self.schedule)

    @property
    def budget(self) -> Budget:
        return Budget(width=self.width, keep=self.keep, allocation=self.allocation, round_to=self.round_to)

    def record(self) -> dict:
        """The request as run.json and report.json state it (names, budget, refit; the schedule when
        gradual)."""
        return {
            "scorer": name_of(self.scorer),
            "selector": name_of(self.selector),
            "budget": self.budget.as_dict(),
            "refit": self.refit,
            **({"steps": self.steps, "schedule": self.schedule} if self.steps > 1 else {}),
        }


FIELDS = tuple(f.name for f in fields(PruneSpec))


def parse_round_to(text) -> int | str:
    """``--round-to`` as typed: ``auto`` or a positive integer."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise BadInput(f"--round-to must be a positive integer or auto, got {text!r}") from None
    if value < 1:
        raise BadInput(f"--round-to must be a positive integer or auto, got {text!r}")
    return value


def request(spec: PruneSpec | None, given: dict) -> PruneSpec:
    """``spec`` (default: ``PruneSpec()``) with the keyword arguments an API call gave, each a field."""
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown pruning option(s) {', '.join(unknown)}; a PruneSpec has {', '.join(FIELDS)}")
    return replace(spec or PruneSpec(), **given)


def name_of(obj) -> str:
    """A scorer's or selector's name, given as a name or an object."""
    return obj if isinstance(obj, str) else getattr(obj, "name", type(obj).__name__)
