"""`python -m ddps_eval.pack.train`: trains the small text-conditional latent diffusion pack and exports it.

ddps runs this (`ddps model train`, which builds the tokenizer and the prompts' token ids first); it
prints one JSON object per line on stdout: `start`, `data`, `progress` (phase, step, loss), `phase`
(a phase's summary), `done` (the record). Three phases, each resumable from the checkpoint in
<out>/training/ when the run is killed:

1. vae:  the KL autoencoder: pixels at --image-size -> 4-channel latent at 1/8 -> pixels at 1/2.
2. latents: the posterior means of every image and its mirror image, and the scaling factor that gives
   them unit variance (SD 1.5's 0.18215 was found the same way).
3. unet: the UNet and the text encoder together, epsilon prediction at timesteps drawn uniformly from
   SD 1.5's scaled_linear schedule, on "An image of {label}." with the empty-label prompt "An image of ."
   in its place for a fraction --p-uncond of the items (classifier-free training). The exported weights
   are an exponential moving average (--ema).

Everything is seeded: the same arguments, data and device give the same pack.
"""
import argparse
import hashlib
import json
import math
import os
import time
from copy import deepcopy
from typing import Dict, List, Optional

# Set before torch loads OpenMP: on a shared machine, spinning OpenMP threads made each training step
# 4-8x slower than yielding ones (measured here with 2 threads under load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from .export import alphas_cumprod, export_pack
from .nets import PackConfig, TextEncoder, UNet2DConditionModel, VaeDecoder, VaeEncoder, count_parameters
from .shards import ShardError, load_images


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def ints(text: str) -> List[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    D = PackConfig  # the widths' defaults live with the networks
    p = argparse.ArgumentParser(prog="python -m ddps_eval.pack.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", nargs="+", required=True, help="WebDataset shards (.tar, .tgz) of labelled images")
    p.add_argument("--prompts", required=True, help="JSON from ddps: labels, token ids of each class prompt and of the empty-label prompt, vocab_size")
    p.add_argument("--out", required=True, help="the pack folder (its tokenizer/ is written by ddps)")
    p.add_argument("--image-size", type=int, default=64, help="side the images are stretched to (ddps --image-size; a multiple of 64)")
    p.add_argument("--limit-per-class", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--vae-steps", type=int, default=500)
    p.add_argument("--vae-batch", type=int, default=64)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--kl-weight", type=float, default=1e-4, help="KL term per latent element against the MSE per pixel")
    p.add_argument("--unet-steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--p-uncond", type=float, default=0.2, help="fraction of items trained with the empty-label prompt")
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--unet-channels", type=ints, default=list(D.unet_channels))
    p.add_argument("--layers-per-block", type=int, default=D.layers_per_block)
    p.add_argument("--attention-head-dim", type=int, default=D.attention_head_dim)
    p.add_argument("--norm-groups", type=int, default=D.norm_groups)
    p.add_argument("--text-hidden", type=int, default=D.text_hidden)
    p.add_argument("--text-layers", type=int, default=D.text_layers)
    p.add_argument("--text-heads", type=int, default=D.text_heads)
    p.add_argument("--vae-channels", type=ints, default=list(D.vae_channels))
    p.add_argument("--vae-groups", type=int, default=D.vae_groups)
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints (a killed run resumes from the last)")
    p.add_argument("--log-every", type=int, default=25, help="steps averaged into one point of the loss curve")
    a = p.parse_args(argv)
    if a.image_size % 64 != 0:
        p.error(f"--image-size must be a multiple of 64, got {a.image_size}")
    if len(a.unet_channels) < 2:
        p.error("--unet-channels needs at least two levels")
    if not 0 <= a.p_uncond < 1:
        p.error(f"--p-uncond must be in [0, 1), got {a.p_uncond}")
    return a


def pack_config(a: argparse.Namespace, vocab_size: int, max_length: int) -> PackConfig:
    return PackConfig(unet_channels=tuple(a.unet_channels), layers_per_block=a.layers_per_block,
                      attention_head_dim=a.attention_head_dim, norm_groups=a.norm_groups, text_hidden=a.text_hidden,
                      text_layers=a.text_layers, text_heads=a.text_heads, max_length=max_length, vocab_size=vocab_size,
                      vae_channels=tuple(a.vae_channels), vae_groups=a.vae_groups)


def settings_of(a: argparse.Namespace) -> Dict:
    """What determines the result (not where it is written, nor how often it checkpoints)."""
    s = {k: v for k, v in vars(a).items() if k not in ("out", "checkpoint_every", "log_every")}
    s["shards"] = [os.path.abspath(p) for p in a.shards]
    return s


def file_identity(path: str) -> Dict:
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return {"path": os.path.abspath(path), "bytes": st.st_size, "sha256First1MiB": h.hexdigest()[:16]}


def lr_at(step: int, steps: int, base: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to zero."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


class Checkpoint:
    """One file, replaced atomically; holds the phase, its step, models, optimiser and RNG state."""

    def __init__(self, out: str, settings: Dict):
        self.path = os.path.join(out, "training", "checkpoint.pt")
        self.settings = settings

    def load(self) -> Optional[Dict]:
        if not os.path.exists(self.path):
            return None
        state = torch.load(self.path, map_location="cpu")
        if state.get("settings") != self.settings:
            changed = sorted(k for k in set(state.get("settings", {})) | set(self.settings)
                             if state.get("settings", {}).get(k) != self.settings.get(k))
            raise SystemExit(f"{self.path} is a checkpoint of a run with other settings ({', '.join(changed)}); "
                             "delete it or train into another folder")
        return state

    def save(self, state: Dict) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        torch.save({**state, "settings": self.settings}, tmp)
        os.replace(tmp, self.path)
        emit("checkpoint", phase=state["phase"], step=state["step"])


def to_pixels(batch_u8: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    x = batch_u8.float() / 127.5 - 1
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def train_vae(a, cfg, images, device, ckpt, state, record) -> Dict[str, torch.nn.Module]:
    enc, dec = VaeEncoder(cfg).to(device), VaeDecoder(cfg).to(device)
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=a.vae_lr, weight_decay=0.0)
    gen = torch.Generator(device=device).manual_seed(a.seed * 1000 + 1)
    start, curve = 0, []
    if state is not None and state["phase"] == "vae":
        enc.load_state_dict(state["enc"]); dec.load_state_dict(state["dec"]); opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"]); start, curve = state["step"], state["curve"]
    elif state is not None:  # a later phase: the autoencoder is done
        enc.load_state_dict(state["enc"]); dec.load_state_dict(state["dec"])
        return {"enc": enc, "dec": dec}
    n = images.shape[0]
    t0, acc = time.time(), []
    for step in range(start, a.vae_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.vae_steps, a.vae_lr, min(a.warmup, a.vae_steps // 10 + 1))
        idx = torch.randint(0, n, (a.vae_batch,), generator=gen, device=device)
        flip = torch.rand(a.vae_batch, generator=gen, device=device) < 0.5
        x = to_pixels(images[idx], flip)
        mean, logvar = enc(x).chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen, device=device)
        rec = F.mse_loss(dec(z), F.avg_pool2d(x, 2))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = rec + a.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc.append((rec.item(), kl.item()))
        if (step + 1) % a.log_every == 0 or step + 1 == a.vae_steps:
            r = sum(v[0] for v in acc) / len(acc)
            k = sum(v[1] for v in acc) / len(acc)
            curve.append({"step": step + 1, "mse": r, "kl": k})
            emit("progress", phase="vae", step=step + 1, steps=a.vae_steps, loss=r, kl=k, seconds=time.time() - t0)
            acc = []
        if (step + 1) % a.checkpoint_every == 0 and step + 1 < a.vae_steps:
            ckpt.save({"phase": "vae", "step": step + 1, "enc": enc.state_dict(), "dec": dec.state_dict(),
                       "opt": opt.state_dict(), "gen": gen.get_state(), "curve": curve})
    record["vae"] = {"steps": a.vae_steps, "curve": curve, "parameters": count_parameters(enc) + count_parameters(dec),
                     "seconds": time.time() - t0}
    emit("phase", phase="vae", steps=a.vae_steps, mse=curve[-1]["mse"] if curve else None, seconds=time.time() - t0)
    return {"enc": enc, "dec": dec}


@torch.no_grad()
def encode_all(enc, images, device, batch=256) -> torch.Tensor:
    """Posterior means of each image and of its mirror image: [2N, 4, h, w] (mirrors second)."""
    enc.eval()
    out = []
    for flip in (False, True):
        for i in range(0, images.shape[0], batch):
            x = to_pixels(images[i:i + batch], torch.full((min(batch, images.shape[0] - i),), flip, device=device))
            out.append(enc(x)[:, :4])
    enc.train()
    return torch.cat(out)


class Ema:
    def __init__(self, modules: List[torch.nn.Module], decay: float):
        self.decay = decay
        self.shadow = [deepcopy(m).eval().requires_grad_(False) for m in modules]

    @torch.no_grad()
    def update(self, modules: List[torch.nn.Module], step: int) -> None:
        # The usual warm start: early averages forget the random initialisation quickly.
        d = min(self.decay, (1 + step) / (10 + step))
        for s, m in zip(self.shadow, modules):
            for ps, pm in zip(s.parameters(), m.parameters()):
                ps.mul_(d).add_(pm.detach(), alpha=1 - d)


def prompt_table(prompts: Dict, device) -> torch.Tensor:
    """Token ids: one row per class, then the empty-label prompt (row C)."""
    return torch.tensor(prompts["cond"] + [prompts["uncond"]], dtype=torch.int64, device=device)


@torch.no_grad()
def prompt_losses(unet, text, latents, labels, ids, alphabar, seed: int, device, n: int = 512) -> Dict[str, float]:
    """Mean conditional and unconditional loss on n fixed training images (not held out: the test split is
    the diffusion classifier's) with fixed noise, at timesteps in ddps's scoring range (0.1-0.7 x 1000):
    the gap is the signal ddps scores with."""
    gen = torch.Generator(device=device).manual_seed(seed * 1000 + 9)
    idx = torch.randperm(latents.shape[0] // 2, generator=gen, device=device)[:n]
    z0, y = latents[idx], labels[idx]
    t = torch.randint(100, 700, (z0.shape[0],), generator=gen, device=device)
    eps = torch.randn(z0.shape, generator=gen, device=device)
    ab = alphabar[t][:, None, None, None]
    zt = ab.sqrt() * z0 + (1 - ab).sqrt() * eps
    ctx = text(ids)[0]
    cond = F.mse_loss(unet(zt, t, ctx, context_index=y), eps).item()
    uncond = F.mse_loss(unet(zt, t, ctx, context_index=torch.full_like(y, ids.shape[0] - 1)), eps).item()
    return {"cond": cond, "uncond": uncond, "items": int(z0.shape[0])}


def train_unet(a, cfg, latents, labels, prompts, device, ckpt, state, record, vae_state, scaling):
    unet, text = UNet2DConditionModel(cfg).to(device), TextEncoder(cfg).to(device)
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    ema = Ema([unet, text], a.ema)
    gen = torch.Generator(device=device).manual_seed(a.seed * 1000 + 2)
    start, curve = 0, []
    if state is not None and state["phase"] == "unet":
        unet.load_state_dict(state["unet"]); text.load_state_dict(state["text"]); opt.load_state_dict(state["opt"])
        ema.shadow[0].load_state_dict(state["ema_unet"]); ema.shadow[1].load_state_dict(state["ema_text"])
        gen.set_state(state["gen"]); start, curve = state["step"], state["curve"]
    alphabar = alphas_cumprod().to(device)
    ids = prompt_table(prompts, device)
    uncond_row = ids.shape[0] - 1
    n = latents.shape[0]
    t0, acc = time.time(), []
    for step in range(start, a.unet_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.unet_steps, a.lr, a.warmup)
        idx = torch.randint(0, n, (a.batch,), generator=gen, device=device)
        z0 = latents[idx]
        y = labels[idx % labels.shape[0]]
        t = torch.randint(0, alphabar.shape[0], (a.batch,), generator=gen, device=device)
        eps = torch.randn(z0.shape, generator=gen, device=device)
        drop = torch.rand(a.batch, generator=gen, device=device) < a.p_uncond
        ab = alphabar[t][:, None, None, None]
        zt = ab.sqrt() * z0 + (1 - ab).sqrt() * eps
        # The few distinct prompts are encoded once per step; each item reads its row.
        row = torch.where(drop, torch.full_like(y, uncond_row), y)
        loss = F.mse_loss(unet(zt, t, text(ids)[0], context_index=row), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update([unet, text], step)
        acc.append(loss.item())
        if (step + 1) % a.log_every == 0 or step + 1 == a.unet_steps:
            curve.append({"step": step + 1, "loss": sum(acc) / len(acc)})
            emit("progress", phase="unet", step=step + 1, steps=a.unet_steps, loss=curve[-1]["loss"], seconds=time.time() - t0)
            acc = []
        if (step + 1) % a.checkpoint_every == 0 and step + 1 < a.unet_steps:
            ckpt.save({"phase": "unet", "step": step + 1, **vae_state, "scaling": scaling, "unet": unet.state_dict(), "text": text.state_dict(),
                       "opt": opt.state_dict(), "ema_unet": ema.shadow[0].state_dict(), "ema_text": ema.shadow[1].state_dict(),
                       "gen": gen.get_state(), "curve": curve})
    e_unet, e_text = ema.shadow
    held = prompt_losses(e_unet, e_text, latents, labels, ids, alphabar, a.seed, device)
    record["unet"] = {"steps": a.unet_steps, "curve": curve, "parameters": count_parameters(unet),
                      "textParameters": count_parameters(text), "seconds": time.time() - t0, "trainingLosses": held}
    emit("phase", phase="unet", steps=a.unet_steps, loss=curve[-1]["loss"] if curve else None, losses=held, seconds=time.time() - t0)
    return e_unet, e_text


def main(argv: Optional[List[str]] = None) -> None:
    a = parse_args(argv)
    if "DDPS_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["DDPS_THREADS"]))
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {a.device}: this torch ({torch.__version__}) sees no CUDA device")
    device = torch.device(a.device)
    torch.manual_seed(a.seed)
    with open(a.prompts) as f:
        prompts = json.load(f)
    settings = settings_of(a)
    cfg = pack_config(a, prompts["vocab_size"], len(prompts["uncond"]))
    wall0 = time.time()
    emit("start", torch=torch.__version__, device=str(device), threads=torch.get_num_threads(), config=cfg.to_json())

    ckpt = Checkpoint(a.out, settings)
    state = ckpt.load()
    if state is not None:
        emit("resume", phase=state["phase"], step=state["step"])
    try:
        images, labels, data_info = load_images(a.shards, a.image_size, a.limit_per_class, len(prompts["labels"]))
    except ShardError as e:
        raise SystemExit(str(e))
    data_info["shards"] = [file_identity(p) for p in a.shards]
    emit("data", **{k: v for k, v in data_info.items() if k != "shards"}, seconds=time.time() - wall0)
    images, labels = images.to(device), labels.to(device)
    record: Dict = {"settings": settings, "config": cfg.to_json(), "prompts": prompts, "data": data_info,
                    "torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    if state is not None:
        record.update(state.get("record", {}))
        # Times are this process's: the killed run's time up to its checkpoint is not in them.
        record["resumedFrom"] = {"phase": state["phase"], "step": state["step"]}

    vae = train_vae(a, cfg, images, device, ckpt, state, record)
    t_lat = time.time()
    latents = encode_all(vae["enc"], images, device)
    std = latents.float().std().item()
    scaling = 1.0 / std
    latents = latents * scaling
    record["latents"] = {"items": int(latents.shape[0]), "std": std, "scalingFactor": scaling, "seconds": time.time() - t_lat}
    emit("phase", phase="latents", **record["latents"])
    vae_state = {"enc": vae["enc"].state_dict(), "dec": vae["dec"].state_dict(), "record": {k: record[k] for k in ("vae",) if k in record}}
    unet_state = state if state is not None and state["phase"] == "unet" else None
    e_unet, e_text = train_unet(a, cfg, latents, labels, prompts, device, ckpt, unet_state, record, vae_state, scaling)

    t_exp = time.time()
    name = os.path.basename(os.path.abspath(a.out))
    files = export_pack(a.out, cfg, e_text, e_unet, vae["enc"], vae["dec"], scaling, a.image_size, name)
    torch.save({"config": cfg.to_json(), "unet": e_unet.state_dict(), "text_encoder": e_text.state_dict(),
                "vae_encoder": vae["enc"].state_dict(), "vae_decoder": vae["dec"].state_dict(), "scaling_factor": scaling},
               os.path.join(a.out, "training", "weights.pt"))
    record["export"] = {"files": files, "seconds": time.time() - t_exp}
    record["seconds"] = time.time() - wall0
    with open(os.path.join(a.out, "training", "record.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    if os.path.exists(ckpt.path):
        os.remove(ckpt.path)
    emit("done", pack=os.path.abspath(a.out), seconds=record["seconds"], vae=record["vae"]["curve"][-1] if record["vae"]["curve"] else None,
         unet=record["unet"]["curve"][-1] if record["unet"]["curve"] else None, losses=record["unet"]["trainingLosses"],
         scalingFactor=scaling)


if __name__ == "__main__":
    main()
