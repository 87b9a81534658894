"""A run's position, saved after every step so a restart goes on where it stopped.

Writes are atomic (a temporary file in the same folder, fsync, rename, fsync of the folder):
after a crash the file is the old position or the new one, never half of each. Outputs the
run writes go through the same function.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, get_args

import jsonschema


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclasses.dataclass
class Frame:
    """One workflow on the run's stack (an invoked workflow runs on top of its caller)."""

    workflow: str
    step_index: int = 0  # the next step to run
    step_id: str = ""  # its id, to notice when the workflow changed under the run
    instruction: int = 0  # within that step: top-level instructions already done
    visits: dict[str, int] = dataclasses.field(default_factory=dict)
    caller_instruction: int = 0  # in the caller's step: the invoke that started this frame


Status = Literal["running", "paused", "done", "failed"]


@dataclasses.dataclass
class Checkpoint:
    run_id: str
    workflow: str
    status: Status = "running"  # "paused": at an escalation
    stack: list[Frame] = dataclasses.field(default_factory=list)
    completed: list[str] = dataclasses.field(default_factory=list)  # "workflow:step"
    variables: dict[str, str] = dataclasses.field(default_factory=dict)
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> sha256
    workflow_files: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> sha256
    decisions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    escalations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    events: list[str] = dataclasses.field(default_factory=list)
    pending_writes: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> content

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        stack = [Frame(**frame) for frame in data.pop("stack", [])]
        return cls(stack=stack, **data)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


STATUSES: tuple[Status, ...] = get_args(Status)
_TEXTS = {"type": "object", "additionalProperties": {"type": "string"}}
_STEP = {"type": "integer", "minimum": 0}
#: The shape of a checkpoint file: checked before anything in it is used.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["run_id", "workflow", "status", "stack"],
    "additionalProperties": False,
    "properties": {
        "run_id": {"type": "string"},
        "workflow": {"type": "string"},
        "status": {"enum": list(STATUSES)},
        "stack": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["workflow"],
                "additionalProperties": False,
                "properties": {
                    "workflow": {"type": "string"},
                    "step_index": _STEP,
                    "step_id": {"type": "string"},
                    "instruction": _STEP,
                    "visits": {"type": "object", "additionalProperties": _STEP},
                    "caller_instruction": _STEP,
                },
            },
        },
        "completed": {"type": "array", "items": {"type": "string"}},
        "variables": _TEXTS,
        "outputs": _TEXTS,
        "workflow_files": _TEXTS,
        "decisions": {"type": "array", "items": {"type": "object"}},
        "escalations": {"type": "array", "items": {"type": "object"}},
        "events": {"type": "array", "items": {"type": "string"}},
        "pending_writes": _TEXTS,
    },
    # An unfinished run has a position to go on from.
    "if": {"properties": {"status": {"enum": ["running", "paused"]}}},
    "then": {"properties": {"stack": {"minItems": 1}}},
}


def _problem(data: Any) -> str | None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {where}: {error.message}"


class CheckpointStore:
    """Checkpoints as JSON files in `<data dir>/runs/`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.json"

    def load(self, run_id: str) -> Checkpoint | None:
        """The run's checkpoint, or None; CheckpointError when the file is not one (it is a
        file on disk: damaged, hand-edited or forged, it is never half-trusted)."""
        path = self.path(run_id)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot be read as JSON ({exc})") from exc
        problem = _problem(data)
        if problem is not None:
            raise CheckpointError(f"{path}: not a valid checkpoint ({problem})")
        return Checkpoint.from_json(data)

    def save(self, checkpoint: Checkpoint) -> None:
        atomic_write(self.path(checkpoint.run_id), checkpoint.to_json())
