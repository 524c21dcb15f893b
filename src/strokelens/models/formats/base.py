"""What every model file format shares: `Probe` (a file's first bytes and, for a zip, its member
names, read once), `ModelFormat` (a format's name in words, how it recognises itself from content,
how it loads), `Loaded` (what a load gives), `LoadOptions` and `Wording` (how errors name options:
CLI flags or Python arguments)."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from torch import nn

from strokelens.errors import StrokelensError

#: How many bytes of a file sniffing reads: enough for every magic number, never the whole file.
HEAD_BYTES = 4096


@dataclass(frozen=True)
class Wording:
    """How messages name the options a caller can pass: ``--trust-pickle`` on the command line,
    ``trust_pickle=True`` in Python."""

    trust_pickle: str
    input: str
    classes: str
    render_size: str
    factory: str
    #: What a model name that is no file may be instead.
    other_models: str


#: Messages for the command line.
CLI = Wording(
    trust_pickle="--trust-pickle",
    input="--input",
    classes="--classes",
    render_size="--size/--channels",
    factory="--model yourmodule:make_model",
    other_models="a shipped model or package.module:factory",
)
#: Messages for Python callers.
PYTHON = Wording(
    trust_pickle="trust_pickle=True",
    input="input=",
    classes="classes=",
    render_size="render=dict(size=..., channels=...)",
    factory='load_model_file("yourmodule:make_model")',
    other_models="package.module:factory",
)


@dataclass
class Loaded:
    """A loaded model file: the module, its declared input (PyTorch order ``(C, H, W)``) when the
    format says it, and class names from the file's own metadata when it has some."""

    module: nn.Module
    input_shape: tuple[int | None, ...] | None = None
    class_names: list[str] | None = None


#: Where a note for the user goes (the CLI: one line on stderr).
Note = Callable[[str], None]


@dataclass(frozen=True)
class LoadOptions:
    """What a caller says about loading: whether it trusts pickles, how messages name options, and
    where warnings go (``note``; default: `warnings.warn`)."""

    trust_pickle: bool = False
    wording: Wording = PYTHON
    note: Note | None = None

    def warn(self, message: str) -> None:
        if self.note is not None:
            self.note(message)
        else:
            warnings.warn(message, UserWarning, stacklevel=4)


class Probe:
    """A model path as sniffing sees it: whether it is a folder, its first `HEAD_BYTES` bytes and,
    for a zip, its member names (from the central directory: the file is never read whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_dir = path.is_dir()
        self.head, self.size = b"", 0
        if self.is_dir:
            return
        try:
            with path.open("rb") as f:
                self.head = f.read(HEAD_BYTES)
            self.size = path.stat().st_size
        except OSError as exc:
            raise StrokelensError(f"cannot read model file {path}: {exc.strerror or exc}") from None

    @cached_property
    def zip_names(self) -> list[str] | None:
        """The member names of a zip file; None when it is not a zip (or a damaged one)."""
        if self.is_dir or not self.head.startswith(b"PK\x03\x04"):
            return None
        try:
            with zipfile.ZipFile(self.path) as z:
                return z.namelist()
        except (zipfile.BadZipFile, OSError, EOFError):
            return None

    def zip_has(self, part: str) -> bool:
        """Whether a zip member's path holds ``part`` (``/code/``, ``/data.pkl`` ...), the archive's
        own top folder (``archive/``, the model's name) aside."""
        return any(part in "/" + n for n in self.zip_names or [])


class ModelFormat:
    """A model file format: its ``name`` in words, `recognises` (from content, not the extension)
    and `load`. Errors of a load start with ``"PATH: this is a NAME"``."""

    name: str = ""
    #: Whether gradients flow through what `load` returns.
    differentiable: bool = True

    def recognises(self, probe: Probe) -> bool:
        raise NotImplementedError

    def load(self, probe: Probe, options: LoadOptions) -> Loaded:
        raise NotImplementedError

    def fail(self, path: Path, what: str) -> StrokelensError:
        """An error naming the file and this format: ``"PATH: this is a NAME: WHAT"``."""
        article = "an" if self.name[:1] in "AEIOU" else "a"
        return StrokelensError(f"{path}: this is {article} {self.name}: {what}")

    def named(self, path: Path, exc: StrokelensError) -> StrokelensError:
        """``exc`` (a reader's error, ``"PATH: what"``) as this format's: ``"PATH: this is a NAME:
        what"``."""
        text = str(exc)
        for prefix in (f"{path}: ", f"{path / 'model.json'}: " if path.is_dir() else ""):
            if prefix and text.startswith(prefix):
                text = text[len(prefix) :]
        return self.fail(path, text)

    def __repr__(self) -> str:
        return f"<{self.name}>"


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The telling line of an error message (TorchScript's come with a traceback: its last line)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[-1] if "TorchScript" in lines[0] else lines[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def current_folder_importable() -> Iterator[None]:
    """Modules in the current folder import while inside (as ``python -m`` would find them): a
    factory ``mymodel:make`` or a pickle naming ``src.model.Net``, run from the model's folder."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)
