"""Replayed teacher labels written by ddps (docs/REPLAY.md): per epoch and batch, the augmentation
parameters and the teacher's logits on exactly that augmented batch, as SRe2L's relabel stores them.

A replay folder holds index.json (written last: no index, no replay), params.jsonl (one line per batch)
and logits.f16 (little-endian float16, one row of classCount logits per image per epoch, in batch order).
"""
import json
import os

import numpy as np

from .errors import EvalError
from .wds import rgb_sha256

FORMAT = "ddps-replay"
VERSION = 1


class Replay:
    def __init__(self, path):
        self.path = path
        self.index_file = os.path.join(path, "index.json")
        if not os.path.exists(self.index_file):
            raise EvalError("MISSING_FILE", f"no replay at {path}: {self.index_file} is missing (an unfinished replay has none)", file=self.index_file)
        with open(self.index_file) as f:
            self.index = json.load(f)
        if self.index.get("format") != FORMAT or self.index.get("version") != VERSION:
            raise EvalError("BAD_CONFIG", f"{self.index_file} is not a {FORMAT} version {VERSION} index", file=self.index_file)
        ix = self.index
        self.rows = ix["epochs"] * len(ix["images"])
        logits_file = os.path.join(path, ix["logits"])
        expected = self.rows * ix["classCount"] * 2
        size = os.path.getsize(logits_file) if os.path.exists(logits_file) else -1
        if size != expected:
            raise EvalError("BAD_CONFIG", f"{logits_file} has {size} bytes, the index says {self.rows} rows of {ix['classCount']} float16 logits ({expected} bytes)", file=logits_file)
        self.logits = np.memmap(logits_file, dtype="<f2", mode="r", shape=(self.rows, ix["classCount"]))

    def check(self, epochs, batch_size, records, class_count):
        """Refuses a replay made for another run: other epochs or batch size, other images or classes.
        Returns the records in the replay's image order."""
        ix = self.index
        if ix["epochs"] != epochs or ix["batchSize"] != batch_size:
            raise EvalError(
                "STORE_MISMATCH",
                f"replay {self.index_file} was made for {ix['epochs']} epochs at batch size {ix['batchSize']}, "
                f"but this run trains {epochs} epochs at batch size {batch_size}: make the replay again for this run",
                file=self.index_file,
            )
        if ix["classCount"] != class_count:
            raise EvalError("STORE_MISMATCH", f"replay {self.index_file} has {ix['classCount']} classes, this run {class_count}", file=self.index_file)
        by_key = {}
        for r in records:
            if r.key in by_key:
                raise EvalError("BAD_SAMPLE", f'key "{r.key}" appears twice in the training set ({by_key[r.key].url}, {r.url}); a replay needs unique keys', file=r.url)
            by_key[r.key] = r
        ordered = []
        for im in ix["images"]:
            r = by_key.get(im["key"])
            if r is None or r.cls != im["cls"]:
                raise EvalError("STORE_MISMATCH", f'replay {self.index_file} names image "{im["key"]}" (class {im["cls"]}), which the training set does not have', file=self.index_file)
            if rgb_sha256(r.rgb(keep=True)) != im["sha256"]:
                raise EvalError(
                    "STORE_MISMATCH",
                    f'image "{r.key}" in {r.url} decodes to other pixels than ddps saw when it made {self.index_file} '
                    "(the set changed, or a lossy format decodes differently: distilled sets are PNG)",
                    file=r.url,
                )
            ordered.append(r)
        if len(ordered) != len(records):
            raise EvalError("STORE_MISMATCH", f"replay {self.index_file} covers {len(ordered)} images, the training set has {len(records)}", file=self.index_file)
        return ordered

    def batches(self):
        """(epoch, params, float32 logits of the batch) in training order, read as they are needed."""
        with open(os.path.join(self.path, self.index["params"])) as f:
            for line in f:
                p = json.loads(line)
                n = len(p["images"])
                yield p["epoch"], p, np.asarray(self.logits[p["row"]:p["row"] + n], dtype=np.float32)
