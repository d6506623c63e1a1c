"""The loopback file endpoint of ``push --bulk``: only the named files, only while it runs."""

from __future__ import annotations

import httpx
import pytest

from fhir_ivc.bulk.serve import FileServer


def test_serves_the_named_files_on_loopback_only_during_the_block(tmp_path):
    data = tmp_path / "Patient.ndjson"
    data.write_bytes(b'{"resourceType":"Patient","id":"a"}\n' * 5000)
    (tmp_path / "secret.txt").write_text("no")
    with FileServer({"Patient.ndjson": data}) as files:
        url = files.url("Patient.ndjson")
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/fhir+ndjson"
        assert answer.content == data.read_bytes()
        assert httpx.head(url).headers["content-length"] == str(data.stat().st_size)
        base = files.base
        # nothing else: not other files, not without the random prefix, no traversal
        for other in ("secret.txt", "../secret.txt", "%2e%2e/secret.txt"):
            assert httpx.get(base + other).status_code == 404
        root = base.rsplit("/", 2)[0]
        assert httpx.get(f"{root}/Patient.ndjson").status_code == 404
        assert httpx.post(url).status_code == 501
        assert files.served == {"Patient.ndjson": 1}
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_file_names_must_stay_inside_the_folder(tmp_path):
    with pytest.raises(ValueError, match="cannot serve"):
        FileServer({"../x.ndjson": tmp_path / "x"})
    with FileServer({}) as files, pytest.raises(KeyError):
        files.url("missing.ndjson")
