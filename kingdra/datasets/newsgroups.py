"""20 Newsgroups "bydate": 18846 documents (train + test), tf-idf of the 2000 most frequent words."""
from __future__ import annotations

import tarfile

import numpy as np

from .base import DatasetInfo, cached
from .download import RemoteFile, fetch
from .features import tfidf

VERSION = "1"
ARCHIVE = RemoteFile(
    "20news-bydate.tar.gz",
    "https://ndownloader.figshare.com/files/5975967",
    {
        "sha256:8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610": "canonical archive",
        "sha256:235232e2ac73a74c4b73a695e299e11115f27c6f74e62d33f25a2eb2cc2e56cd": "local mirror (repacked, same files)",
    },
)
SPLITS = ("20news-bydate-train", "20news-bydate-test")


def read_archive(path) -> tuple[list[str], list[str]]:
    """(documents, their group names), train before test, each by group then message number."""
    found = []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[0] in SPLITS:
                text = archive.extractfile(member).read().decode("latin-1")  # as the corpus is distributed
                found.append((SPLITS.index(parts[0]), parts[1], int(parts[2]), text))
    found.sort(key=lambda doc: doc[:3])
    return [doc[3] for doc in found], [doc[1] for doc in found]


def load(data_dir=None):
    def build():
        path, provenance = fetch(ARCHIVE, data_dir)
        docs, groups = read_archive(path)
        names, y = np.unique(groups, return_inverse=True)
        info = DatasetInfo(
            "20news", f"{path} ({provenance})", "exact",
            "tf-idf (sklearn TfidfVectorizer defaults: lower-cased, l2 rows, smooth idf) of the 2000 "
            "most frequent words; headers kept",
            None, VERSION, tuple(str(name) for name in names),
        )
        return tfidf(docs, 2000).toarray(), y, info

    return cached(f"20news-v{VERSION}", build)
