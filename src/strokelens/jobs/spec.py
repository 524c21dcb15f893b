"""`JobSpec`: everything that decides a dataset job's rows, written to its manifest and compared on
``--resume`` (how the job is run, local or on Ray, with progress bars or not, is not part of it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.jobs.commands import JobCommand, command_named
from strokelens.kinds import FILES, InputFiles, files_named

#: Input kinds: the names of the kinds of files a job reads (`strokelens.kinds.FILES`).
KINDS = tuple(FILES)


@dataclass(frozen=True)
class JobSpec:
    """A dataset job: ``command`` (a `JobCommand`'s name, see `job_command`) over ``kind`` inputs
    (the name of their kind of files, see `files`; an `InputFiles` given is stored by name) with
    ``methods`` on ``model``.

    ``model``: a JSON-ready description of the model (its name or file and options), compared on
    resume. ``target``: a class name or index, ``auto`` or (photos) ``file``. ``units`` /
    ``unit_options``: how units are made (`View.units_for`). ``options``: per-method options.
    ``shard_size``: rows per shard; ``limit``: at most this many drawings per file (photos: in all).
    """

    command: str
    kind: str
    model: dict[str, Any]
    methods: tuple[str, ...]
    target: str | int = "auto"
    units: str | None = None
    unit_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    score: str = "logit"
    batch_size: int = 32
    shard_size: int = 1000
    limit: int | None = None

    def __post_init__(self) -> None:
        command = command_named(self.command)
        if isinstance(self.kind, InputFiles):
            object.__setattr__(self, "kind", self.kind.name)
        if self.kind not in KINDS:
            raise StrokelensError(f"job input kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.methods:
            raise StrokelensError("a job needs at least one method")
        command.check_methods(self.methods)
        for name, value in (("batch_size", self.batch_size), ("shard_size", self.shard_size)):
            if value < 1:
                raise StrokelensError(f"{name} must be at least 1, got {value}")
        object.__setattr__(self, "methods", tuple(self.methods))

    def check(self, class_names: Sequence[str]) -> None:
        """Refuse, before any work, what would fail for every input alike: an unknown method, option
        or target class (so that it is an error, not a job of skipped rows)."""
        from strokelens.attribution.base import check_options
        from strokelens.games import class_index
        from strokelens.methods import get_method

        for name in self.methods:
            check_options(get_method(name), self.options.get(name, {}))
        unknown = sorted(set(self.options) - set(self.methods))
        if unknown:
            raise StrokelensError(f"options given for method(s) the job does not run: {', '.join(unknown)}")
        if not (isinstance(self.target, str) and self.target in ("auto", "file")):
            class_index(self.target, class_names)

    @property
    def files(self) -> InputFiles:
        """The kind of files the job reads (what reads, counts and names its inputs)."""
        return files_named(self.kind)

    def target_for(self, inputs: Sequence[Any], class_names: Sequence[str]) -> Any:
        """The target of a batch of ``inputs``: ``file`` becomes what the files say
        (`InputFiles.file_targets`: the class each photo's file name spells); any other target stands
        as it is."""
        if self.target != "file":
            return self.target
        return self.files.file_targets(inputs, class_names)

    @property
    def job_command(self) -> JobCommand:
        """What the job computes (`strokelens.jobs.commands`), from its ``command`` name."""
        return command_named(self.command)

    @property
    def rows_per_input(self) -> int:
        """Rows a job writes per input: one (explain) or one per method (evaluate)."""
        return self.job_command.rows_per_input(self.methods)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        return cls(**{**data, "methods": tuple(data["methods"])})

    def differences(self, other: JobSpec) -> list[str]:
        """The fields in which ``other`` differs from this spec, as ``name: this != other``."""
        mine, theirs = self.to_json(), other.to_json()
        return [f"{k}: {mine[k]!r} != {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]
