"""20 Newsgroups "bydate": 18846 documents (train + test), tf-idf of the 2000 most frequent words.

The l2-normalised rows are multiplied by sqrt(2000), the scaling DEC used for Reuters-10K: an
l2 row over 2000 words has entries of std ~0.02, so the released input noise (std 0.3, sized for
entries of order one) would be ~14x the signal and the corrupted pass would see almost nothing.
Measured (single Ladder-IM, released 20news settings, seeds 0-4, 4 epochs;
results/studies/ladder_im_tables.md): accuracy 0.09-0.11 unscaled, 0.31-0.36 scaled.
`load(scaled=False)` (dataset "20news-unscaled") keeps the l2 rows.
"""
from __future__ import annotations

import tarfile

import numpy as np

from .base import DatasetInfo, cached
from .download import RemoteFile, fetch
from .features import tfidf

VERSION = "2"  # 2: rows times sqrt(N_WORDS)
N_WORDS = 2000
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


def load(data_dir=None, scaled=True):
    """X, y, info; `scaled=False` gives the l2-normalised rows without the sqrt(2000) factor."""

    def build():
        path, provenance = fetch(ARCHIVE, data_dir)
        docs, groups = read_archive(path)
        names, y = np.unique(groups, return_inverse=True)
        info = DatasetInfo(
            "20news" if scaled else "20news-unscaled", f"{path.name} ({provenance})", "exact",
            f"tf-idf (sklearn TfidfVectorizer defaults: lower-cased, l2 rows, smooth idf) of the {N_WORDS} "
            "most frequent words; headers kept" + (f"; times sqrt({N_WORDS}) (DEC's text scale, for the "
                                                   "released noise std)" if scaled else "; unscaled l2 rows"),
            None, VERSION, tuple(str(name) for name in names),
        )
        X = tfidf(docs, N_WORDS).toarray()
        return (X * np.float32(np.sqrt(N_WORDS)) if scaled else X), y, info

    return cached(f"20news-v{VERSION}" + ("" if scaled else "-unscaled"), build)
