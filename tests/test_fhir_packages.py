"""scripts/fhir-packages: the package chain of the HL7 engine is resolved from the shared folder
(or npm), verified against the pinned checksums, copied into the cache only when it verifies, and
a missing or wrong package is an error that says which, where it was looked for, and how to get it.

These runs resolve only US Core (``--path``), from the real shared folder or from a fake one, into
a temporary cache: no network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests._fhir_packages import RESOLVER, package_tarball

US_CORE = "hl7.fhir.us.core-6.1.0.tgz"


def _pins() -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(RESOLVER), "--list"], capture_output=True, text=True, check=True
    ).stdout
    return {f"{n}-{v}.tgz": sha for n, v, _, sha in (line.split() for line in out.splitlines())}


def _resolve(cache: Path, shared: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FHIR_PACKAGE_CACHE": str(cache), "FHIR_SHARED_PACKAGES": str(shared)}
    return subprocess.run(
        ["bash", str(RESOLVER), *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.fixture(scope="module")
def real_us_core() -> Path:
    return package_tarball("hl7.fhir.us.core")  # from the shared folder this checkout sees


def test_the_chain_is_mcode_us_core_and_the_extensions_they_need() -> None:
    assert list(_pins()) == [
        "hl7.fhir.us.mcode-4.0.0.tgz",
        "hl7.fhir.us.core-6.1.0.tgz",
        "hl7.fhir.uv.extensions.r4-5.2.0.tgz",
    ]


def test_a_verified_package_is_copied_into_the_cache(tmp_path, real_us_core) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shutil.copy(real_us_core, shared / US_CORE)
    proc = _resolve(tmp_path / "cache", shared, "--path", "hl7.fhir.us.core")
    assert proc.returncode == 0, proc.stderr
    cached = tmp_path / "cache" / US_CORE
    assert proc.stdout.strip() == str(cached)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == _pins()[US_CORE]
    assert "verified (sha256 + sha1)" in proc.stderr


def test_a_missing_package_names_the_package_where_it_looked_and_how_to_get_it(tmp_path) -> None:
    shared = tmp_path / "nowhere"
    proc = _resolve(tmp_path / "cache", shared, "--path", "hl7.fhir.us.core")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "hl7.fhir.us.core@6.1.0: MISSING" in proc.stderr
    assert str(shared / US_CORE) in proc.stderr
    assert "FHIR_SHARED_PACKAGES" in proc.stderr
    assert "PACKAGES-PROVENANCE.txt" in proc.stderr


def test_a_package_that_fails_its_pin_is_refused_and_not_copied(tmp_path, real_us_core) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    data = bytearray(real_us_core.read_bytes())
    data[-1] ^= 1  # one bit off
    (shared / US_CORE).write_bytes(bytes(data))
    proc = _resolve(tmp_path / "cache", shared, "--path", "hl7.fhir.us.core")
    assert proc.returncode == 1
    assert "hl7.fhir.us.core@6.1.0: CHECKSUM MISMATCH" in proc.stderr
    assert _pins()[US_CORE] in proc.stderr
    assert not (tmp_path / "cache" / US_CORE).exists()
    assert list((tmp_path / "cache").iterdir()) == []  # no temporary copy left either


def test_a_bad_cached_copy_is_replaced_by_a_verified_one(tmp_path, real_us_core) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / US_CORE).write_bytes(b"not a package")
    shared = tmp_path / "shared"
    shared.mkdir()
    shutil.copy(real_us_core, shared / US_CORE)
    assert _resolve(cache, shared, "--verify").returncode == 1
    proc = _resolve(cache, shared, "--path", "hl7.fhir.us.core")
    assert proc.returncode == 0, proc.stderr
    assert "fails its pin" in proc.stderr
    assert (cache / US_CORE).read_bytes() == real_us_core.read_bytes()


def test_an_unknown_package_name_is_an_error(tmp_path) -> None:
    proc = _resolve(tmp_path / "cache", tmp_path, "--path", "hl7.fhir.uv.sdc")
    assert proc.returncode == 1
    assert "no pinned package 'hl7.fhir.uv.sdc'" in proc.stderr
