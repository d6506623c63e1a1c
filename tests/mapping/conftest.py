"""Mapping tests: the ``--update-golden`` option.

``pytest tests/mapping --update-golden`` (or ``scripts/update_golden.py``) rewrites
``tests/data/<scenario>/expected/*.json`` from the current mappers; review the diff before
committing it. The option is registered here, so it is known when pytest is given a path inside
``tests/mapping``; ``request.config.getoption(..., default=False)`` keeps other runs working.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/data/*/expected/*.json from the current mappers",
    )
    parser.addoption(
        "--update-identifiers",
        action="store_true",
        default=False,
        help="rewrite tests/data/seed/*/expected/identifiers.json (needs a migration note)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))
