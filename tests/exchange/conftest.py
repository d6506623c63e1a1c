"""The engine tests drive both clients through the client tests' harness (respx transports)."""

from tests.client.conftest import (  # noqa: F401 - fixtures, used by name
    BASE,
    anyio_backend,
    client,
    kind,
    make_client,
    router,
)
