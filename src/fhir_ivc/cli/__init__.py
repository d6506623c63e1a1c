"""Command line interface (``fhir-ivc``). The only package allowed to import rich/typer."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``fhir-ivc`` console script."""
    try:
        from fhir_ivc.cli._app import app
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise SystemExit(
            f"fhir-ivc: the command line needs the 'cli' extra ({exc.name} is missing):\n"
            "    pip install 'fhir-ivc[cli]'"
        ) from exc
    app()
