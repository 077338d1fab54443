"""The ``bandit-router`` command line; :func:`main` is its entry point."""

from __future__ import annotations

from api.cli.main import main

__all__ = ["main"]
