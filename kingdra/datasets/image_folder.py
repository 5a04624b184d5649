"""A user's own images: `root/<class>/<image>` (labelled by folder, any depth below it), or images
with no classes at all, anywhere under `root` (unlabelled: y is -1 for every image)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from .base import DatasetInfo, as_matrix, cached
from .features import DEFAULT_EXTRACTOR, IMAGE_SIZE, describe, feature_tag, image_features

VERSION = "1"
SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def decode(source, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 (h, w, 3) of an image file or file-like object, resized to `size` = (h, w) if given."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        if size is not None:
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(image)


class ImageFiles:
    """Images decoded only when sliced, so feature extraction over a large folder keeps memory flat."""

    def __init__(self, paths, size):
        self.paths, self.size = list(paths), size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index: slice) -> np.ndarray:
        images = [decode(path, self.size) for path in self.paths[index]]
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise ValueError(f"images differ in size {sorted(shapes)[:3]}; pass image_size=(height, width)")
        return np.stack(images)


UNLABELLED = -1  # y of an image that has no class folder


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if p.suffix.lower() in SUFFIXES and p.is_file())


def list_images(root: Path, labelled: bool | None = None) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """(image paths, class index per image, class names). Labelled: the sorted subfolders that hold
    images are the classes. Unlabelled: every image under root, class UNLABELLED, no class names.
    `labelled=None` decides from the layout: images directly in root mean unlabelled, images only in
    subfolders mean classes; both at once is ambiguous and must be chosen."""
    loose = _images_in(root, recursive=False)
    folders = [f for f in sorted(p for p in root.iterdir() if p.is_dir()) if _images_in(f, recursive=True)]
    if labelled is None:
        if loose and folders:
            raise ValueError(f"{root} holds images both directly and in subfolders {[f.name for f in folders[:3]]}: "
                             "pass labelled=True (subfolders are classes, loose images ignored) or labelled=False "
                             "(every image, no classes)")
        labelled = not loose
    if not labelled:
        paths = _images_in(root, recursive=True)
        if not paths:
            raise ValueError(f"no {sorted(SUFFIXES)} images under {root}")
        return paths, [UNLABELLED] * len(paths), ()
    classes, paths, labels = [], [], []
    for folder in folders:
        found = _images_in(folder, recursive=True)
        labels += [len(classes)] * len(found)
        classes.append(folder.name)
        paths += found
    if not paths:
        raise ValueError(f"no images under {root}/<class>/: expected one subfolder per class holding {sorted(SUFFIXES)} "
                         "files, or images directly in it (unlabelled)")
    return paths, labels, tuple(classes)


def load_image_folder(path, extractor: str | None = DEFAULT_EXTRACTOR, image_size=None, data_dir=None,
                      labelled: bool | None = None):
    """X (float32, n x d), y and info for a folder of images: `root/<class>/<image>` (y the class
    index from the folder name) or, unlabelled, images anywhere under root (y = -1 for each; see
    `list_images` for how `labelled=None` tells the two apart).

    `extractor`: "resnet50" (the paper's), "efficientnet-lite0" (the substitute) or None for raw
    pixels / 255. Images are decoded at `image_size` (height, width): by default the CNN's input
    size, or as they are for raw pixels (then they must all have one size). CNN features are cached,
    keyed by the folder's file names, sizes and times, so an edited folder is extracted afresh.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    paths, labels, classes = list_images(root, labelled)
    size = tuple(image_size) if image_size is not None else None
    if size is None and extractor is not None:
        size = (IMAGE_SIZE, IMAGE_SIZE)
    fingerprint = hashlib.sha1(repr(size).encode())
    for p in paths:
        stat = p.stat()
        fingerprint.update(f"{p.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())

    def build():
        info = DatasetInfo(
            f"folder:{root.name}", f"{len(paths)} image files under {root.name}/", "as found", describe(extractor),
            extractor,
            f"v{VERSION} ({feature_tag(extractor)})", classes,
        )
        return image_features(ImageFiles(paths, size), extractor, data_dir), np.array(labels), info

    fingerprint.update(repr(classes).encode())  # the same files read with and without classes
    key = f"folder-{root.name}-{fingerprint.hexdigest()[:16]}-{feature_tag(extractor)}-v{VERSION}"
    return as_matrix(*cached(key, build, store=extractor is not None))
