"""Downloads: checksummed, atomic, and an offline error that says what to fetch and where to put it."""
import hashlib
import io
import urllib.error
from pathlib import Path

import pytest

from kingdra import datasets
from kingdra.datasets import base, download

PAYLOAD = b"kingdra test payload\n" * 100


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))


def remote_for(tmp_path, checksum=None) -> download.RemoteFile:
    source = tmp_path / "server" / "payload.bin"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    checksum = checksum or hashlib.sha256(PAYLOAD).hexdigest()
    return download.RemoteFile("sub/payload.bin", source.as_uri(), {f"sha256:{checksum}": "canonical"})


def leftovers(directory: Path):
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def test_download_verifies_and_keeps_a_good_file(tmp_path):
    remote = remote_for(tmp_path)
    path, provenance = download.fetch(remote, tmp_path / "data")
    assert path == tmp_path / "data" / "sub" / "payload.bin"
    assert path.read_bytes() == PAYLOAD and provenance == "canonical"
    assert leftovers(tmp_path / "data") == ["payload.bin"]
    assert download.fetch(remote, tmp_path / "data") == (path, "canonical")  # found, not fetched again


def test_checksum_mismatch_is_rejected_and_not_kept(tmp_path):
    remote = remote_for(tmp_path, checksum="0" * 64)
    with pytest.raises(ValueError) as err:
        download.fetch(remote, tmp_path / "data")
    message = str(err.value)
    assert f"for {tmp_path / 'data' / 'sub' / 'payload.bin'} does not match its checksum" in message
    assert f"sha256:{hashlib.sha256(PAYLOAD).hexdigest()}; expected sha256:{'0' * 64}" in message
    assert leftovers(tmp_path / "data") == []


class TruncatedResponse(io.BytesIO):
    """What a dropped connection delivers: fewer bytes than the Content-Length promised."""

    headers = {"Content-Length": str(len(PAYLOAD))}


def test_truncated_download_is_rejected_and_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "urlopen", lambda url, timeout: TruncatedResponse(PAYLOAD[:500]))
    with pytest.raises(OSError) as err:
        download.fetch(remote_for(tmp_path), tmp_path / "data")
    message = str(err.value)
    assert f"for {tmp_path / 'data' / 'sub' / 'payload.bin'} stopped after 500 of {len(PAYLOAD)} bytes" in message
    assert f"sha256:{hashlib.sha256(PAYLOAD).hexdigest()}" in message
    assert leftovers(tmp_path / "data") == []


class UnsizedResponse(io.BytesIO):
    """A server that sends no Content-Length: only the checksum can tell a short file."""

    headers = {}


def test_truncated_download_without_a_length_fails_its_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "urlopen", lambda url, timeout: UnsizedResponse(PAYLOAD[:500]))
    with pytest.raises(ValueError, match=f"does not match its checksum.*expected sha256:{hashlib.sha256(PAYLOAD).hexdigest()}"):
        download.fetch(remote_for(tmp_path), tmp_path / "data")
    assert leftovers(tmp_path / "data") == []


def test_a_corrupt_local_file_is_never_used(tmp_path):
    remote = remote_for(tmp_path)
    local = tmp_path / "data" / remote.name
    local.parent.mkdir(parents=True)
    local.write_bytes(PAYLOAD[:-1])
    with pytest.raises(ValueError, match="corrupt or incomplete.*delete it"):
        download.fetch(remote, tmp_path / "data")


def offline(url, timeout):
    raise urllib.error.URLError("Name or service not known")


def test_offline_error_names_file_url_and_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "urlopen", offline)
    with pytest.raises(FileNotFoundError) as err:
        datasets.load("mnist", data_dir=tmp_path / "empty")
    message = str(err.value)
    assert "4 of 4 files missing" in message
    for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert f"mnist/{stem}.gz is not in {tmp_path / 'empty' / 'mnist'}" in message
        assert f"https://ossci-datasets.s3.amazonaws.com/mnist/{stem}.gz" in message
    assert not (tmp_path / "empty").exists()  # nothing half-made


def test_data_dir_argument_then_environment_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINGDRA_DATA_DIR", str(tmp_path / "env"))
    assert base.data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert base.data_dir() == tmp_path / "env"
    monkeypatch.setenv("KINGDRA_DATA_DIR", "")  # what the Makefile exports when there is no mirror
    assert base.data_dir() == tmp_path / "cache" / "data"


def test_no_download_starts_while_downloads_are_disabled(tmp_path, monkeypatch):
    def must_not_download(url, timeout):
        raise AssertionError(f"downloaded {url}")

    monkeypatch.setattr(download, "urlopen", must_not_download)
    with download.downloads_disabled():
        with pytest.raises(FileNotFoundError, match="is not in .*`make data`.* downloads it from https://"):
            download.fetch(remote_for(tmp_path).__class__("x.bin", "https://example.org/x.bin", {}), tmp_path)


def test_dataset_present_never_downloads(tmp_path, monkeypatch, capsys):
    """`make table1` (DATASETS=present) on a machine without data: every dataset is skipped, none fetched."""
    from replicate import run

    def must_not_download(url, timeout):
        raise AssertionError(f"downloaded {url}")

    monkeypatch.setattr(download, "urlopen", must_not_download)
    monkeypatch.setenv("KINGDRA_DATA_DIR", str(tmp_path / "empty"))
    assert run.main(["--dataset", "present", "--profile", "tiny", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    for name in datasets.TABLE_DATASETS:
        assert f"{name}: skipped, its data is not here" in out
