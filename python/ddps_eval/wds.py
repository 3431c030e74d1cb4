"""WebDataset shards without the webdataset package: tarfile + Pillow.

A sample is the run of consecutive tar members that share a key (the member name up to the first dot
of its basename); extensions are lower-cased. ddps writes distilled sets this way (``<key>.png``,
``<key>.cls``, ``<key>.json``, and ``<key>.soft.json`` after ``ddps relabel``), and reads datasets
this way, so these shards load here exactly as ddps wrote them.

    from ddps_eval import ShardDataset
    import torchvision.transforms as T
    train = ShardDataset(["out/ipc10/distilled-000000.tar"], transform=T.ToTensor())
    image, cls = train[0]                     # a 3 x H x W tensor and the class index
    soft = ShardDataset(shards, target="soft")  # targets are the teacher's probabilities instead

`python -m ddps_eval.wds SHARD...` prints one JSON line per sample as ShardDataset gives it (key, class,
size, a SHA-256 of the decoded RGB pixels, soft probabilities): for checks against what ddps wrote.
"""
import hashlib
import io
import json
import re
import sys
import tarfile

import numpy as np
from PIL import Image

from .errors import EvalError

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
_KEY_EXT = re.compile(r"^((?:.*/)?[^./]+)\.([^/]*)$")
_JSON_CLASS_FIELDS = ("label", "class", "cls")


def split_member_name(name):
    """(key, lower-cased extension), or None for names webdataset skips."""
    m = _KEY_EXT.match(name)
    return None if m is None else (m.group(1), m.group(2).lower())


def iter_samples(url):
    """The samples of one shard (.tar, .tar.gz, .tgz), streamed: dicts of extension -> bytes plus __key__ and __url__."""
    try:
        tar = tarfile.open(url, mode="r|*")
    except (OSError, tarfile.TarError) as e:
        raise EvalError("BAD_SHARD", f"cannot open shard {url}: {e}", file=url) from e
    current = None
    try:
        for member in tar:
            if not member.isfile():
                continue
            base = member.name.rsplit("/", 1)[-1]
            parts = None if base.startswith("__") else split_member_name(member.name)
            if parts is None or parts[1].startswith("__"):
                continue
            key, ext = parts
            data = tar.extractfile(member).read()
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key, "__url__": url}
            current[ext] = data
    except (OSError, EOFError, tarfile.TarError) as e:
        raise EvalError("BAD_SHARD", f"shard {url} is truncated or corrupt: {e}", file=url) from e
    finally:
        tar.close()
    if current is not None:
        yield current


def sample_image(sample):
    """The first of jpg, jpeg, png, webp present, or None."""
    for ext in IMAGE_EXTENSIONS:
        if ext in sample:
            return sample[ext]
    return None


def sample_class(sample):
    """The class index from .cls (an ASCII integer) or .json (label, class or cls); None when absent."""
    where = f'sample "{sample["__key__"]}" in {sample["__url__"]}'
    if "cls" in sample:
        text = sample["cls"].decode("utf-8").strip()
        if not re.fullmatch(r"\d+", text):
            raise EvalError("BAD_SAMPLE", f'{where}: .cls is "{text[:40]}", expected a non-negative integer', file=sample["__url__"])
        return int(text)
    if "json" in sample:
        try:
            meta = json.loads(sample["json"])
        except ValueError as e:
            raise EvalError("BAD_SAMPLE", f"{where}: .json is not valid JSON ({e})", file=sample["__url__"]) from e
        if isinstance(meta, dict):
            for field in _JSON_CLASS_FIELDS:
                if isinstance(meta.get(field), int):
                    return meta[field]
    return None


def sample_soft(sample):
    """The probabilities of .soft.json (ddps relabel), or None."""
    if "soft.json" not in sample:
        return None
    return json.loads(sample["soft.json"])


def decode_rgb(data, where="image"):
    """Image bytes -> H x W x 3 uint8 (Pillow's convert('RGB'))."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise EvalError("BAD_SAMPLE", f"{where}: cannot decode the image ({len(data)} bytes): {e}") from e


def rgb_sha256(rgb):
    """SHA-256 of H x W x 3 uint8 pixels in row-major order (what ddps records in a replay index)."""
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


class Record:
    """One sample, its image kept encoded until asked for."""

    __slots__ = ("key", "url", "data", "cls", "soft", "_rgb")

    def __init__(self, key, url, data, cls, soft):
        self.key, self.url, self.data, self.cls, self.soft = key, url, data, cls, soft
        self._rgb = None

    def rgb(self, keep=False):
        """The decoded H x W x 3 uint8 image (kept when `keep`, for small sets decoded many times)."""
        if self._rgb is not None:
            return self._rgb
        rgb = decode_rgb(self.data, f'sample "{self.key}" in {self.url}')
        if keep:
            self._rgb = rgb
        return rgb


def read_records(shards, need_class=True):
    """Every sample of the shards in order, as Records (images encoded: memory is the compressed size)."""
    records = []
    for url in shards:
        for sample in iter_samples(url):
            where = f'sample "{sample["__key__"]}" in {url}'
            data = sample_image(sample)
            if data is None:
                members = ", ".join(k for k in sample if not k.startswith("__"))
                raise EvalError("BAD_SAMPLE", f"{where} has no image (members: {members}); expected jpg, jpeg, png or webp", file=url)
            cls = sample_class(sample)
            if cls is None and need_class:
                raise EvalError("BAD_SAMPLE", f"{where} has no class (.cls, or label/class/cls in .json)", file=url)
            records.append(Record(sample["__key__"], url, data, cls, sample_soft(sample)))
    return records


try:
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # the reader works without torch; only ShardDataset's base class needs it
    _Dataset = object


class ShardDataset(_Dataset):
    """A map-style torch Dataset over WebDataset shards: (transform(PIL RGB image), target).

    target="class" gives the class index; target="soft" gives the .soft.json probabilities as a float
    tensor (ddps relabel's soft labels). Images stay encoded in memory and are decoded on access.
    """

    def __init__(self, shards, transform=None, target="class"):
        if isinstance(shards, str):
            shards = [shards]
        if target not in ("class", "soft"):
            raise ValueError(f'target must be "class" or "soft", got {target!r}')
        self.records = read_records(list(shards))
        self.transform = transform
        self.target = target
        if target == "soft":
            missing = next((r for r in self.records if r.soft is None), None)
            if missing is not None:
                raise EvalError("MISSING_FILE", f'sample "{missing.key}" in {missing.url} has no .soft.json (run ddps relabel first)', file=missing.url)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        r = self.records[i]
        img = Image.fromarray(r.rgb())
        x = self.transform(img) if self.transform is not None else img
        if self.target == "soft":
            import torch

            return x, torch.tensor(r.soft["probs"], dtype=torch.float32)
        return x, r.cls


def _main(argv):
    """One JSON line per sample, read through ShardDataset as a user would."""
    ds = ShardDataset(argv)
    for i in range(len(ds)):
        img, cls = ds[i]
        rgb = np.asarray(img, dtype=np.uint8)
        r = ds.records[i]
        print(json.dumps({
            "key": r.key, "url": r.url, "cls": cls, "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
            "sha256": rgb_sha256(rgb), "soft": None if r.soft is None else r.soft["probs"],
        }))


if __name__ == "__main__":
    from .errors import run_main

    run_main(_main, sys.argv[1:])
