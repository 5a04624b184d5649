"""Reuters-10K (the DEC construction from RCV1-v2, docs/paper.md §2): 10000 x 2000 tf-idf, 4 classes.

Documents labelled with exactly one of the root topics CCAT, GCAT, MCAT, ECAT are kept; tf-idf
(sublinear tf, l2 rows) over the 2000 most frequent words is fitted on all of them, then 10000 are
drawn with a fixed seed and scaled by sqrt(2000) as DEC did (the released settings' noise_std = 3
is sized for that scale).
"""
from __future__ import annotations

import gzip

import numpy as np

from .base import DatasetInfo, cached
from .download import RemoteFile, fetch_all
from .features import tfidf

VERSION = "1"
ROOTS = ("CCAT", "GCAT", "MCAT", "ECAT")  # class ids 0-3, in DEC's order
N_DOCS, N_WORDS, SEED = 10000, 2000, 0
LYRL = "http://jmlr.csail.mit.edu/papers/volume5/lewis04a/"
PARTS = ("test_pt0", "test_pt1", "test_pt2", "test_pt3", "train")
# Lewis et al. publish no checksums for these files.
TOKENS = tuple(
    RemoteFile(f"rcv1/lyrl2004_tokens_{part}.dat.gz", f"{LYRL}a12-token-files/lyrl2004_tokens_{part}.dat.gz", {})
    for part in PARTS
)
QRELS = RemoteFile("rcv1/rcv1-v2.topics.qrels.gz", f"{LYRL}a08-topic-qrels/rcv1-v2.topics.qrels.gz", {})


def read_qrels(path) -> dict[int, int]:
    """Document id -> class id, for documents with exactly one root topic (lines: `TOPIC DOCID 1`)."""
    roots: dict[int, set[str]] = {}
    with gzip.open(path, "rt", encoding="ascii") as f:
        for line in f:
            topic, doc = line.split()[:2]
            if topic in ROOTS:
                roots.setdefault(int(doc), set()).add(topic)
    return {doc: ROOTS.index(topics.pop()) for doc, topics in roots.items() if len(topics) == 1}


def read_tokens(path):
    """(document id, its tokens as one string) per `.I <id>` / `.W` / token-lines record."""
    doc, lines = None, []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith(".I "):
                if doc is not None:
                    yield doc, " ".join(lines)
                doc, lines = int(line.split()[1]), []
            elif not line.startswith(".W"):
                lines.append(line.strip())
    if doc is not None:
        yield doc, " ".join(lines)


def construct(token_paths, qrels_path, n_docs: int):
    """(X dense float32, y): `n_docs` single-topic documents by the DEC recipe."""
    label_of = read_qrels(qrels_path)
    docs, labels = [], []
    for path in token_paths:
        for doc, text in read_tokens(path):
            if doc in label_of:
                docs.append(text)
                labels.append(label_of[doc])
    if len(docs) < n_docs:
        raise ValueError(f"only {len(docs)} single-topic documents in the RCV1 files, {n_docs} needed")
    X = tfidf(docs, N_WORDS, sublinear_tf=True)
    keep = np.sort(np.random.default_rng(SEED).choice(len(docs), n_docs, replace=False))
    return X[keep].toarray() * np.float32(np.sqrt(N_WORDS)), np.asarray(labels)[keep]


def load(data_dir=None):
    def build():
        *tokens, (qrels_path, provenance) = fetch_all([*TOKENS, QRELS], data_dir)
        X, y = construct([path for path, _ in tokens], qrels_path, N_DOCS)
        info = DatasetInfo(
            "reuters10k", f"RCV1-v2 token files and topic qrels ({provenance})",
            "exact",
            f"tf-idf (sublinear tf, l2 rows) of the {N_WORDS} most frequent words over all single-root "
            f"documents, {N_DOCS} drawn with seed {SEED}, times sqrt({N_WORDS})",
            None, VERSION, ROOTS,
        )
        return X, y, info

    return cached(f"reuters10k-v{VERSION}", build)
