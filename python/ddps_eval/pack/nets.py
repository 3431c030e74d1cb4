"""The small pack's networks, shaped like Stable Diffusion 1.5's and named like diffusers' modules.

The names matter: torch.onnx names each node after its module path, and ddps finds the DIFT feature
map as the last node under `/up_blocks.1/`, as in an Optimum export of SD 1.5. Everything else is
SD 1.5 at a small width: a KL autoencoder with a 4-channel latent at 1/8 of the image, a CLIP-style
causal text transformer over token ids, and a UNet with four levels (three downsamplers), ResNet
blocks with a timestep embedding, and transformer blocks whose second attention reads the text.
Plain PyTorch ops only, so the same code runs on torch 1.13 (CPU) and 2.x (CUDA) and exports to ONNX.
"""
import math
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

LATENT_CHANNELS = 4


@dataclass
class PackConfig:
    """Every width and depth of the pack; recorded in the pack folder."""
    # UNet: one entry per level; the last level has no cross-attention and no downsampler, as in SD.
    unet_channels: Tuple[int, ...] = (32, 64, 64, 64)
    layers_per_block: int = 1
    attention_head_dim: int = 32
    norm_groups: int = 8
    # Text encoder (CLIP-like): hidden size, layers, heads, context length.
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_length: int = 77
    vocab_size: int = 49408
    # VAE: channels at 1/2, 1/4 and 1/8 of the image.
    vae_channels: Tuple[int, ...] = (16, 32, 64)
    vae_groups: int = 8

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> "PackConfig":
        d = dict(d)
        for k in ("unet_channels", "vae_channels"):
            if k in d:
                d[k] = tuple(d[k])
        return PackConfig(**d)


# ---------------------------------------------------------------------------------------------- VAE

class VaeResnet(nn.Module):
    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, ch)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def vae_levels(channels: Tuple[int, ...], groups: int, resample, name: str) -> nn.ModuleList:
    """One block per level: a ResNet block, then (but after the last level) `name`[0] = resample(ch, next ch)."""
    blocks = nn.ModuleList()
    for i, ch in enumerate(channels):
        block = nn.Module()
        block.resnets = nn.ModuleList([VaeResnet(ch, groups)])
        if i + 1 < len(channels):
            setattr(block, name, nn.ModuleList([resample(ch, channels[i + 1])]))
        blocks.append(block)
    return blocks


def run_levels(blocks: nn.ModuleList, h: torch.Tensor, name: str) -> torch.Tensor:
    for block in blocks:
        for r in block.resnets:
            h = r(h)
        if hasattr(block, name):
            h = getattr(block, name)[0](h)
    return h


class VaeEncoder(nn.Module):
    """Pixels [B,3,H,W] in [-1,1] -> latent_parameters [B,8,H/8,W/8] = concat(mean, logvar), as diffusers'
    AutoencoderKL encoder + quant_conv. The first conv halves the side at once: ddps feeds low-resolution
    data upsampled 2x, so full-resolution layers would only see interpolated pixels."""

    def __init__(self, cfg: PackConfig):
        super().__init__()
        c = cfg.vae_channels
        self.conv_in = nn.Conv2d(3, c[0], 4, stride=2, padding=1)
        self.down_blocks = vae_levels(c, cfg.vae_groups, lambda a, b: nn.Conv2d(a, b, 3, stride=2, padding=1), "downsamplers")
        self.conv_norm_out = nn.GroupNorm(cfg.vae_groups, c[-1])
        self.conv_out = nn.Conv2d(c[-1], 2 * LATENT_CHANNELS, 3, padding=1)
        self.quant_conv = nn.Conv2d(2 * LATENT_CHANNELS, 2 * LATENT_CHANNELS, 1)

    def forward(self, sample):
        h = run_levels(self.down_blocks, self.conv_in(sample), "downsamplers")
        return self.quant_conv(self.conv_out(F.silu(self.conv_norm_out(h))))


class VaeDecoder(nn.Module):
    """latent_sample [B,4,h,w] (unscaled) -> pixels [B,3,4h,4w], half the image side: the encoder's
    first layer already halves it. Trains the encoder; `full_size` (the exported vae_decoder) adds a
    bilinear 2x upsampling so the output has the image's size."""

    def __init__(self, cfg: PackConfig, full_size: bool = False):
        super().__init__()
        c = tuple(reversed(cfg.vae_channels))
        self.full_size = full_size
        self.post_quant_conv = nn.Conv2d(LATENT_CHANNELS, LATENT_CHANNELS, 1)
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, c[0], 3, padding=1)
        self.up_blocks = vae_levels(c, cfg.vae_groups, lambda a, b: nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), "upsamplers")
        self.conv_norm_out = nn.GroupNorm(cfg.vae_groups, c[-1])
        self.conv_out = nn.Conv2d(c[-1], 3, 3, padding=1)

    def forward(self, latent_sample):
        h = run_levels(self.up_blocks, self.conv_in(self.post_quant_conv(latent_sample)), "upsamplers")
        out = self.conv_out(F.silu(self.conv_norm_out(h)))
        return F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=False) if self.full_size else out


# ------------------------------------------------------------------------------------ text encoder

class ClipAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        return self.out_proj(attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, mask))


class ClipLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(dim)
        self.self_attn = ClipAttention(dim, heads)
        self.layer_norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        h = self.mlp.fc1(self.layer_norm2(x))
        return x + self.mlp.fc2(h * torch.sigmoid(1.702 * h))  # CLIP's quick_gelu


class TextEncoder(nn.Module):
    """input_ids [B,T] -> (last_hidden_state [B,T,D], pooler_output [B,D]) like transformers'
    CLIPTextModel: causal self-attention, final layer norm, pooled at the end token (the largest id)."""

    def __init__(self, cfg: PackConfig):
        super().__init__()
        d = cfg.text_hidden
        self.embeddings = nn.Module()
        self.embeddings.token_embedding = nn.Embedding(cfg.vocab_size, d)
        self.embeddings.position_embedding = nn.Embedding(cfg.max_length, d)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList([ClipLayer(d, cfg.text_heads) for _ in range(cfg.text_layers)])
        self.final_layer_norm = nn.LayerNorm(d)
        nn.init.normal_(self.embeddings.token_embedding.weight, std=0.02)
        nn.init.normal_(self.embeddings.position_embedding.weight, std=0.01)

    def forward(self, input_ids):
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device)
        x = self.embeddings.token_embedding(input_ids) + self.embeddings.position_embedding(pos)[None]
        causal = torch.full((t, t), float("-inf"), device=input_ids.device).triu(1)
        for layer in self.encoder.layers:
            x = layer(x, causal)
        x = self.final_layer_norm(x)
        end = input_ids.argmax(dim=-1)
        pooled = x[torch.arange(x.shape[0], device=x.device), end]
        return x, pooled


# -------------------------------------------------------------------------------------------- UNet

def attention(q, k, v, heads: int, mask=None):
    """Multi-head scaled dot-product attention on [B, N, heads*d] tensors (written out: torch 1.13 has
    no F.scaled_dot_product_attention)."""
    b, n, inner = q.shape
    d = inner // heads
    q = q.reshape(b, n, heads, d).transpose(1, 2)
    k = k.reshape(b, k.shape[1], heads, d).transpose(1, 2)
    v = v.reshape(b, v.shape[1], heads, d).transpose(1, 2)
    w = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d))
    if mask is not None:
        w = w + mask
    out = w.softmax(dim=-1) @ v
    return out.transpose(1, 2).reshape(b, n, inner)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, context_dim: Optional[int] = None):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def forward(self, x, context=None, index=None):
        ctx = x if context is None else context
        k, v = self.to_k(ctx), self.to_v(ctx)
        if index is not None:
            k, v = k[index], v[index]
        return self.to_out[0](attention(self.to_q(x), k, v, self.heads))


class FeedForward(nn.Module):
    """GEGLU feed-forward (diffusers: ff.net.0.proj, ff.net.2)."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        inner = dim * mult
        geglu = nn.Module()
        geglu.proj = nn.Linear(dim, 2 * inner)
        self.net = nn.ModuleList([geglu, nn.Identity(), nn.Linear(inner, dim)])

    def forward(self, x):
        h, gate = self.net[0].proj(x).chunk(2, dim=-1)
        return self.net[2](h * F.gelu(gate))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, context_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, head_dim, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, context, index=None):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context, index)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    def __init__(self, ch: int, cfg: PackConfig):
        super().__init__()
        heads = max(1, ch // cfg.attention_head_dim)
        self.norm = nn.GroupNorm(cfg.norm_groups, ch, eps=1e-6)
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(ch, heads, ch // heads, cfg.text_hidden)])
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x, context, index=None):
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            y = block(y, context, index)
        y = y.transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(y)


class ResnetBlock2D(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Downsample2D(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    """diffusers' CrossAttnDownBlock2D (with attentions) or DownBlock2D (without)."""

    def __init__(self, cin: int, cout: int, temb: int, cfg: PackConfig, cross: bool, down: bool):
        super().__init__()
        n = cfg.layers_per_block
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, temb, cfg.norm_groups) for i in range(n)])
        self.attentions = nn.ModuleList([Transformer2DModel(cout, cfg) for _ in range(n)]) if cross else None
        self.downsamplers = nn.ModuleList([Downsample2D(cout)]) if down else None

    def forward(self, x, temb, context, index=None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        skips = []
        for i, r in enumerate(self.resnets):
            x = r(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, context, index)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    """diffusers' CrossAttnUpBlock2D or UpBlock2D: layers_per_block + 1 resnets over concatenated skips."""

    def __init__(self, cin: int, cout: int, skip_chs: List[int], temb: int, cfg: PackConfig, cross: bool, up: bool):
        super().__init__()
        self.resnets = nn.ModuleList()
        ch = cin
        for s in skip_chs:
            self.resnets.append(ResnetBlock2D(ch + s, cout, temb, cfg.norm_groups))
            ch = cout
        self.attentions = nn.ModuleList([Transformer2DModel(cout, cfg) for _ in skip_chs]) if cross else None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if up else None

    def forward(self, x, skips: List[torch.Tensor], temb, context, index=None):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x, context, index)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, ch: int, temb: int, cfg: PackConfig):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, cfg.norm_groups), ResnetBlock2D(ch, ch, temb, cfg.norm_groups)])
        self.attentions = nn.ModuleList([Transformer2DModel(ch, cfg)])

    def forward(self, x, temb, context, index=None):
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x, context, index)
        return self.resnets[1](x, temb)


def timestep_embedding(t, dim: int):
    """diffusers' Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0), as SD 1.5 uses."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class UNet2DConditionModel(nn.Module):
    """(sample [B,4,h,w], timestep [B], encoder_hidden_states [B,T,D]) -> predicted noise [B,4,h,w];
    h and w multiples of 2^(levels-1)."""

    def __init__(self, cfg: PackConfig):
        super().__init__()
        ch = cfg.unet_channels
        temb = 4 * ch[0]
        self.base = ch[0]
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, ch[0], 3, padding=1)
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1 = nn.Linear(ch[0], temb)
        self.time_embedding.linear_2 = nn.Linear(temb, temb)
        levels = len(ch)
        self.down_blocks = nn.ModuleList()
        skip_chs = [ch[0]]
        prev = ch[0]
        for i, c in enumerate(ch):
            last = i == levels - 1
            self.down_blocks.append(DownBlock(prev, c, temb, cfg, cross=not last, down=not last))
            skip_chs += [c] * cfg.layers_per_block + ([] if last else [c])
            prev = c
        self.mid_block = UNetMidBlock2DCrossAttn(ch[-1], temb, cfg)
        self.up_blocks = nn.ModuleList()
        rev = list(reversed(ch))
        for i, c in enumerate(rev):
            n = cfg.layers_per_block + 1
            mine, skip_chs = skip_chs[-n:], skip_chs[:-n]
            self.up_blocks.append(UpBlock(prev, c, list(reversed(mine)), temb, cfg, cross=i > 0, up=i < levels - 1))
            prev = c
        self.conv_norm_out = nn.GroupNorm(cfg.norm_groups, ch[0])
        self.conv_out = nn.Conv2d(ch[0], LATENT_CHANNELS, 3, padding=1)
        # The output starts at zero, as in DDPM's reference code: the first loss is that of predicting 0.
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample, timestep, encoder_hidden_states, context_index=None):
        """context_index (training only): encoder_hidden_states holds the few distinct prompts and item i
        reads row context_index[i]; keys and values are then projected once per prompt instead of once
        per item, which is a third of the UNet's work with 77-token contexts."""
        temb = timestep_embedding(timestep, self.base)
        temb = self.time_embedding.linear_2(F.silu(self.time_embedding.linear_1(temb)))
        x = self.conv_in(sample)
        skips = [x]
        for block in self.down_blocks:
            x, s = block(x, temb, encoder_hidden_states, context_index)
            skips += s
        x = self.mid_block(x, temb, encoder_hidden_states, context_index)
        for block in self.up_blocks:
            n = len(block.resnets)
            mine = skips[-n:]
            skips = skips[:-n]
            x = block(x, mine, temb, encoder_hidden_states, context_index)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
