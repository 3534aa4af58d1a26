"""One small data file of ``faq/data``: YAML read and checked against its pydantic model, every
problem reported as a ``ContentError`` naming the file (``python -m faq check`` prints them)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from faq.errors import ContentError, ContentProblem

__all__ = ["read_model"]

M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M]) -> M:
    """``path`` parsed as YAML and validated as ``model``; raise ContentError otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContentError(
            [ContentProblem(file=path.name, message=f"cannot read: {exc}")]
        ) from None
    except ValidationError as exc:
        raise ContentError(
            [
                ContentProblem(
                    file=path.name,
                    message=f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}",
                )
                for e in exc.errors()
            ]
        ) from None
