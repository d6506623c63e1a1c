"""Command line interface (``fhir-ivc``). The only package allowed to import rich/typer."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``fhir-ivc`` console script."""
    from fhir_ivc.cli._app import app  # here, so `import fhir_ivc.cli` stays cheap

    app()
