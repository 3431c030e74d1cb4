"""`python -m ddps_eval.train JOB.json`: trains the job's students, one per seed, and evaluates them.

ddps writes the job (see pipelines/evaluate.ts, docs/EVAL.md): the resolved profile, the training shards
and label mode (replay | static | hard), the replay folder of each seed, the validation shards, epochs,
batch size, device and where finished runs go. Progress is one JSON line per epoch on stdout; each
finished student is written to `runsDir/seed-<s>.json` atomically with its seed's digest (`digests`), and
a re-run skips the students already there whose digest matches: their seed's, or the whole job's
(`digest`, which runs written before per-seed digests carry).
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .augment import cutmix, cutmix_lambda, render, sample_cutmix, sample_image_aug, test_image
from .errors import EvalError, emit, run_main
from .models import build_model, param_groups
from .replay import Replay
from .wds import read_records

# Decoded training images are kept in memory up to this many bytes (a distilled set always fits);
# a larger split (--compare full) is decoded as it is used.
KEEP_DECODED_BYTES = 1 << 30


def eval_epochs(epochs, every, last_fraction):
    """1-based epochs at which the student is tested: every `every` epochs within the last fraction, and the last."""
    start = (1.0 - last_fraction) * epochs
    return sorted({e for e in range(1, epochs + 1) if e % every == 0 and e > start} | {epochs})


def lr_factor(epochs):
    """RDED's schedule as coded: 0.5 (1 + cos(pi epoch / epochs / 2)), stepped once per epoch (decays to half)."""
    return lambda epoch: 0.5 * (1.0 + math.cos(math.pi * epoch / epochs / 2.0))


def load_val(shards, profile, class_count):
    records = read_records(shards)
    bad = next((r for r in records if not 0 <= r.cls < class_count), None)
    if bad is not None:
        raise EvalError("UNKNOWN_CLASS", f'validation sample "{bad.key}" in {bad.url} has class {bad.cls}; the students have classes 0..{class_count - 1}', file=bad.url)
    t = profile["test"]
    images = np.stack([test_image(r.rgb(), t["resize"], t["crop"]) for r in records])
    labels = np.asarray([r.cls for r in records], dtype=np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


class Normalizer:
    def __init__(self, profile, device):
        n = profile["normalize"]
        self.mean = torch.tensor(n["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(n["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255.0
        self.device = device

    def __call__(self, hwc):
        """n x S x S x 3 on the 0..255 scale (numpy or tensor) -> normalised n x 3 x S x S on the device."""
        x = torch.as_tensor(np.asarray(hwc) if not torch.is_tensor(hwc) else hwc).to(self.device, torch.float32)
        return (x.permute(0, 3, 1, 2) - self.mean) / self.std


def evaluate(model, val, norm, batch=100):
    images, labels = val
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch):
            out = model(norm(images[i:i + batch]))
            correct += (out.argmax(1).cpu() == labels[i:i + batch]).sum().item()
    return 100.0 * correct / max(1, len(labels))


def plan_batches(job, seed, records, rgb):
    """(epoch, images, augs, cutmix, teacher logits or None) per batch: from the replay, or drawn here."""
    aug_cfg = job["profile"]["augment"]
    size = job["profile"]["size"]
    if job["labels"] == "replay":
        replay = Replay(job["replays"][str(seed)])
        ordered = replay.check(job["epochs"], job["batchSize"], records, job["classCount"])
        position = {id(r): i for i, r in enumerate(records)}
        remap = [position[id(r)] for r in ordered]
        for epoch, p, logits in replay.batches():
            yield epoch, [remap[i] for i in p["images"]], p["augs"], p["cutmix"], logits
        return
    rng = np.random.default_rng(seed)
    n, bs = len(records), job["batchSize"]
    for epoch in range(job["epochs"]):
        order = rng.permutation(n)
        for start in range(0, n, bs):
            idx = [int(i) for i in order[start:start + bs]]
            augs = []
            for i in idx:
                h, w = rgb(i).shape[:2]
                augs.append(sample_image_aug(rng, w, h, aug_cfg))
            yield epoch, idx, augs, sample_cutmix(rng, len(idx), size, aug_cfg["cutmixBeta"]), None


def train_seed(job, seed, records, val, device):
    profile = job["profile"]
    size, epochs = profile["size"], job["epochs"]
    classes = job["classCount"]
    torch.manual_seed(seed)
    keep = len(records) * 3 * max(size, 64) ** 2 <= KEEP_DECODED_BYTES
    rgb = lambda i: records[i].rgb(keep=keep)  # noqa: E731
    labels = torch.tensor([r.cls for r in records], dtype=torch.int64)
    if job["labels"] == "static":
        soft = torch.tensor([r.soft["probs"] for r in records], dtype=torch.float32)
        static_t = float(records[0].soft["temperature"])
    model = build_model(profile["model"], classes, size).to(device)
    opt = profile["optimizer"]
    optimizer = torch.optim.AdamW(param_groups(model, opt["weightDecay"]), lr=job["lr"], betas=tuple(opt["betas"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(epochs))
    norm = Normalizer(profile, device)
    evals = set(eval_epochs(epochs, profile["evaluate"]["every"], profile["evaluate"]["lastFraction"]))
    T = float(profile["temperature"])
    started = time.time()
    history = {"loss": [], "trainTop1": [], "evals": []}
    epoch_loss = epoch_correct = epoch_seen = 0
    current = 0

    def end_epoch(epoch):
        nonlocal epoch_loss, epoch_correct, epoch_seen
        scheduler.step()
        loss, train_top1 = epoch_loss / max(1, epoch_seen), 100.0 * epoch_correct / max(1, epoch_seen)
        history["loss"].append(loss)
        history["trainTop1"].append(train_top1)
        event = {"event": "epoch", "name": job["name"], "seed": seed, "epoch": epoch + 1, "epochs": epochs, "loss": loss, "trainTop1": train_top1}
        if epoch + 1 in evals:
            event["top1"] = evaluate(model, val, norm)
            history["evals"].append([epoch + 1, event["top1"]])
        emit(event)
        epoch_loss = epoch_correct = epoch_seen = 0

    for epoch, idx, augs, mix, teacher in plan_batches(job, seed, records, rgb):
        if epoch != current:
            end_epoch(current)
            current = epoch
        model.train()
        batch = np.stack([render(rgb(i), a, size) for i, a in zip(idx, augs)])
        x = norm(cutmix(batch, mix["perm"], mix["box"]))
        y = labels[idx].to(device)
        out = model(x)
        if job["labels"] == "replay":
            target = F.softmax(torch.from_numpy(teacher).to(device) / T, dim=1)
            loss = F.kl_div(F.log_softmax(out / T, dim=1), target, reduction="batchmean")
        else:
            lam = cutmix_lambda(mix["box"], size)
            perm = torch.tensor(mix["perm"], device=device)
            if job["labels"] == "static":
                p = soft[idx].to(device)
                loss = F.kl_div(F.log_softmax(out / static_t, dim=1), lam * p + (1 - lam) * p[perm], reduction="batchmean")
            else:
                loss = lam * F.cross_entropy(out, y) + (1 - lam) * F.cross_entropy(out, y[perm])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item() * len(idx)
        epoch_correct += (out.argmax(1) == y).sum().item()
        epoch_seen += len(idx)
    end_epoch(current)
    if len(history["loss"]) != epochs:
        raise EvalError("BAD_CONFIG", f"the training plan of {job['name']} covered {len(history['loss'])} epochs, expected {epochs}")
    finals = dict(history["evals"])
    return {
        "digest": job["digests"][str(seed)], "name": job["name"], "seed": seed, "epochs": epochs, "batchSize": job["batchSize"],
        "images": len(records), "labels": job["labels"], "top1": finals[epochs], "bestLast20": max(finals.values()),
        "evals": history["evals"], "loss": history["loss"], "trainTop1": history["trainTop1"], "seconds": time.time() - started,
    }


def write_atomic(path, obj):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv):
    with open(argv[0]) as f:
        job = json.load(f)
    threads = os.environ.get("DDPS_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    device = job.get("device", "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise EvalError("MISSING_DEPENDENCY", f"--device cuda, but torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
    os.makedirs(job["runsDir"], exist_ok=True)
    todo = []
    for seed in job["seeds"]:
        path = os.path.join(job["runsDir"], f"seed-{seed}.json")
        if os.path.exists(path):
            with open(path) as f:
                done = json.load(f)
            if done.get("digest") in (job["digests"][str(seed)], job["digest"]):
                emit({"event": "run", "cached": True, **{k: done[k] for k in ("name", "seed", "top1", "bestLast20", "seconds")}})
                continue
        todo.append((seed, path))
    if not todo:
        return
    records = read_records(job["train"]["shards"], need_class=True)
    if job["labels"] == "static":
        missing = next((r for r in records if r.soft is None), None)
        if missing is not None:
            raise EvalError("MISSING_FILE", f'sample "{missing.key}" in {missing.url} has no .soft.json: static labels need ddps relabel', file=missing.url)
    val = load_val(job["val"]["shards"], job["profile"], job["classCount"])
    emit({"event": "start", "name": job["name"], "images": len(records), "val": int(len(val[1])), "device": device, "threads": torch.get_num_threads(), "torch": torch.__version__})
    for seed, path in todo:
        result = train_seed(job, seed, records, val, device)
        write_atomic(path, result)
        emit({"event": "run", "cached": False, **{k: result[k] for k in ("name", "seed", "top1", "bestLast20", "seconds")}})


if __name__ == "__main__":
    run_main(main, sys.argv[1:])
