"""Labelled images from WebDataset shards (.tar, .tar.gz, .tgz) into one uint8 tensor, for training.

A sample is the run of tar members sharing a key (the name up to the first dot); it needs an image
(.jpg/.jpeg/.png/.webp) and a class index (.cls). Samples without either are counted and skipped, as
ddps does; an undecodable image names its shard and key.
"""
import io
import tarfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from PIL import Image

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


class ShardError(Exception):
    pass


def _samples(path: str) -> Iterator[Tuple[str, Dict[str, bytes]]]:
    """(key, {ext: bytes}) per sample, in tar order; members of a sample are adjacent."""
    key: Optional[str] = None
    parts: Dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)[-1]
                dot = base.find(".")
                if dot <= 0:
                    continue
                prefix = m.name[: len(m.name) - len(base)] + base[:dot]
                if prefix != key:
                    if key is not None:
                        yield key, parts
                    key, parts = prefix, {}
                parts[base[dot + 1:].lower()] = tar.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ShardError(f"{path}: unreadable shard after sample {key!r} ({e})") from e
    if key is not None:
        yield key, parts


def load_images(paths: Sequence[str], image_size: int, limit_per_class: Optional[int] = None,
                num_classes: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, dict]:
    """All samples of the shards, each stretched to image_size x image_size with Lanczos (ddps's
    whole-image mode does the same with sharp's lanczos3): (uint8 [N,3,S,S], int64 labels [N], info)."""
    images: List[torch.Tensor] = []
    labels: List[int] = []
    per_class: Dict[int, int] = {}
    skipped: Dict[str, int] = {}
    for path in paths:
        for key, parts in _samples(path):
            img_ext = next((e for e in IMAGE_EXTS if e in parts), None)
            if img_ext is None or "cls" not in parts:
                reason = "no image" if img_ext is None else "no class"
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            try:
                cls = int(parts["cls"].decode("utf8").strip())
            except ValueError:
                raise ShardError(f"{path}: sample {key}: .cls is {parts['cls'][:20]!r}, expected an integer")
            if num_classes is not None and not 0 <= cls < num_classes:
                raise ShardError(f"{path}: sample {key}: class {cls} is outside 0..{num_classes - 1}")
            if limit_per_class is not None and per_class.get(cls, 0) >= limit_per_class:
                continue
            try:
                im = Image.open(io.BytesIO(parts[img_ext])).convert("RGB")
            except Exception as e:  # PIL raises several types for corrupt data
                raise ShardError(f"{path}: sample {key}: cannot decode its .{img_ext} ({e})") from e
            im = im.resize((image_size, image_size), Image.LANCZOS)
            images.append(torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(image_size, image_size, 3).permute(2, 0, 1))
            labels.append(cls)
            per_class[cls] = per_class.get(cls, 0) + 1
    if not images:
        raise ShardError(f"no labelled images in {', '.join(paths)}")
    info = {"images": len(images), "perClass": {str(k): v for k, v in sorted(per_class.items())}, "skipped": skipped}
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), info
