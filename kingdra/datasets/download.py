"""Raw files: found in the data directory, or downloaded there from their canonical URL.

A file is used only after its checksum matched one of the known ones; a download is written to a
temporary name and renamed only once it is complete and verified.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .base import atomic_file, data_dir

# Tests replace this to serve files without a network.
urlopen = urllib.request.urlopen
CHUNK = 1 << 20
_allowed = [True]


@contextlib.contextmanager
def downloads_disabled():
    """Within the block a missing file is reported, never downloaded: for "the data already here"."""
    _allowed.append(False)
    try:
        yield
    finally:
        _allowed.pop()


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    name: str  # path relative to the data directory
    url: str | None  # None: a local mirror's file, not published anywhere
    # "md5:<hex>" or "sha256:<hex>" -> what a match means (e.g. "canonical"). Empty: none published.
    checksums: dict[str, str]


def fetch(remote: RemoteFile, directory=None) -> tuple[Path, str]:
    """Path of the verified file and its provenance (what its checksum says it is).

    Looks in `directory` (default: `data_dir()`), downloading into it when the file is absent.
    """
    path = data_dir(directory) / remote.name
    if path.exists():
        return path, verify(path, remote)
    if remote.url is None:
        raise FileNotFoundError(f"{remote.name} is not in {path.parent} and has no public download")
    if not _allowed[-1]:
        raise FileNotFoundError(f"{remote.name} is not in {path.parent}; `make data` (or loading the dataset by "
                                f"name) downloads it from {remote.url}")
    try:
        response = urlopen(remote.url, timeout=60)
    except (urllib.error.URLError, OSError) as err:
        raise FileNotFoundError(
            f"{remote.name} is not in {path.parent} and downloading {remote.url} failed ({err}). "
            f"Download it by hand and save it as {path} (or point KINGDRA_DATA_DIR at a directory "
            f"that holds {remote.name})."
        ) from err
    with response, atomic_file(path) as tmp:
        _copy(response, tmp, remote, path)
        tmp.flush()
        provenance, found = _check(Path(tmp.name), remote)
        if provenance is None:
            raise ValueError(
                f"the download of {remote.url} for {path} does not match its checksum ({found}; expected "
                f"{_expected(remote)}) and was not kept. Load again to retry, or save a good copy as {path}."
            )
    return path, provenance


def verify(path: Path, remote: RemoteFile) -> str:
    """Provenance of `path` by its checksum; a file matching none is refused, never used."""
    provenance, found = _check(path, remote)
    if provenance is None:
        fix = f"delete it and load again to download {remote.url}" if remote.url else "replace it with a good copy"
        raise ValueError(f"{path} is corrupt or incomplete ({found}; expected {_expected(remote)}): {fix}.")
    return provenance


def _copy(response, out, remote: RemoteFile, path: Path) -> None:
    length = response.headers.get("Content-Length")
    expected = int(length) if length else None
    received = 0
    with tqdm(total=expected, unit="B", unit_scale=True, desc=f"download {remote.name}") as bar:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if expected is not None and received != expected:
        raise OSError(
            f"the download of {remote.url} for {path} stopped after {received} of {expected} bytes and was "
            f"not kept (a complete file has {_expected(remote) or 'no published checksum'}); load again to retry"
        )


def _check(path: Path, remote: RemoteFile) -> tuple[str | None, str]:
    """(provenance of the matching checksum or None, the digests found)."""
    if not remote.checksums:
        return "no published checksum", "not checked"
    algorithms = {key.split(":")[0] for key in remote.checksums}
    digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for digest in digests.values():
                digest.update(chunk)
    found = {f"{algorithm}:{digest.hexdigest()}" for algorithm, digest in digests.items()}
    matches = [remote.checksums[key] for key in found if key in remote.checksums]
    return (matches[0] if matches else None), ", ".join(sorted(found))


def _expected(remote: RemoteFile) -> str:
    return " or ".join(sorted(remote.checksums))


def fetch_all(remotes, directory=None) -> list[tuple[Path, str]]:
    """`fetch` each file; when some cannot be had, one error that names every missing one."""
    found, errors = [], []
    for remote in remotes:
        try:
            found.append(fetch(remote, directory))
        except FileNotFoundError as err:
            errors.append(str(err))
    if errors:
        raise FileNotFoundError(f"{len(errors)} of {len(remotes)} files missing:\n  " + "\n  ".join(errors))
    return found
