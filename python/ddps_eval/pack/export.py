"""torch.onnx export of the small pack in the diffusers / Optimum ONNX layout of SD 1.5.

Input and output names and dtypes are those of a current Optimum export (README of the tiny-sd
fixture): input_ids int64 -> last_hidden_state, pooler_output; sample, timestep, encoder_hidden_states
-> out_sample; sample -> latent_parameters = concat(mean, logvar); latent_sample -> sample. The
timestep is int64 [batch], so one UNet call can carry items at different timesteps.
The tokenizer folder is written by ddps (it builds the vocabulary); this module writes the rest.
"""
import inspect
import json
import os
from typing import Dict

import torch
from torch import nn

from .nets import LATENT_CHANNELS, PackConfig, TextEncoder, UNet2DConditionModel, VaeDecoder, VaeEncoder

OPSET = 14

# SD 1.5's schedule (scheduler/scheduler_config.json of runwayml/stable-diffusion-v1-5).
SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


def alphas_cumprod(cfg: Dict = SCHEDULER_CONFIG) -> torch.Tensor:
    """alphabar_t in float32, as diffusers builds it (ddps's models/schedule.ts reads the same file)."""
    n = cfg["num_train_timesteps"]
    betas = torch.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, n, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


class _TextOutputs(nn.Module):
    def __init__(self, text: TextEncoder):
        super().__init__()
        self.text = text

    def forward(self, input_ids):
        return self.text(input_ids)


# torch >= 2.9 exports with dynamo by default, which needs onnxscript and names nodes differently; the
# TorchScript exporter names each node after its module path (/up_blocks.1/...), as Optimum's exports do.
_LEGACY = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def _export(model: nn.Module, args, path: str, inputs, outputs, axes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, args, tmp, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True, **_LEGACY)
    os.replace(tmp, path)


def _json(path: str, value) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def export_pack(out: str, cfg: PackConfig, text: TextEncoder, unet: UNet2DConditionModel, encoder: VaeEncoder,
                decoder: VaeDecoder, scaling_factor: float, image_size: int, name: str) -> Dict[str, str]:
    """Writes every file of the pack but the tokenizer; the models are exported on the CPU in float32."""
    text, unet, encoder = text.cpu().eval(), unet.cpu().eval(), encoder.cpu().eval()
    full_decoder = VaeDecoder(cfg, full_size=True)
    full_decoder.load_state_dict(decoder.state_dict())
    full_decoder.eval()
    h = image_size // 8
    files = {
        "text_encoder": os.path.join(out, "text_encoder", "model.onnx"),
        "unet": os.path.join(out, "unet", "model.onnx"),
        "vae_encoder": os.path.join(out, "vae_encoder", "model.onnx"),
        "vae_decoder": os.path.join(out, "vae_decoder", "model.onnx"),
    }
    ids = torch.zeros(2, cfg.max_length, dtype=torch.int64)
    _export(_TextOutputs(text), (ids,), files["text_encoder"], ["input_ids"], ["last_hidden_state", "pooler_output"],
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}})
    _export(unet, (torch.zeros(2, LATENT_CHANNELS, h, h), torch.tensor([1, 500], dtype=torch.int64),
                   torch.zeros(2, cfg.max_length, cfg.text_hidden)),
            files["unet"], ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
            {"sample": {0: "batch_size", 2: "height", 3: "width"}, "timestep": {0: "batch_size"},
             "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
             "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
    _export(encoder, (torch.zeros(2, 3, image_size, image_size),), files["vae_encoder"], ["sample"], ["latent_parameters"],
            {"sample": {0: "batch_size", 2: "height", 3: "width"},
             "latent_parameters": {0: "batch_size", 2: "height_latent", 3: "width_latent"}})
    _export(full_decoder, (torch.zeros(2, LATENT_CHANNELS, h, h),), files["vae_decoder"], ["latent_sample"], ["sample"],
            {"latent_sample": {0: "batch_size", 2: "height_latent", 3: "width_latent"},
             "sample": {0: "batch_size", 2: "height", 3: "width"}})
    _json(os.path.join(out, "scheduler", "scheduler_config.json"), SCHEDULER_CONFIG)
    vae_config = {"_class_name": "AutoencoderKL", "latent_channels": LATENT_CHANNELS, "scaling_factor": scaling_factor,
                  "sample_size": image_size, "block_out_channels": list(cfg.vae_channels)}
    _json(os.path.join(out, "vae_encoder", "config.json"), vae_config)
    _json(os.path.join(out, "vae_decoder", "config.json"), vae_config)
    _json(os.path.join(out, "unet", "config.json"), {
        "_class_name": "UNet2DConditionModel", "sample_size": h, "in_channels": LATENT_CHANNELS,
        "out_channels": LATENT_CHANNELS, "block_out_channels": list(cfg.unet_channels),
        "layers_per_block": cfg.layers_per_block, "cross_attention_dim": cfg.text_hidden,
        "attention_head_dim": cfg.attention_head_dim, "norm_num_groups": cfg.norm_groups,
        "down_block_types": ["CrossAttnDownBlock2D"] * (len(cfg.unet_channels) - 1) + ["DownBlock2D"],
        "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (len(cfg.unet_channels) - 1)})
    _json(os.path.join(out, "text_encoder", "config.json"), {
        "_class_name": "CLIPTextModel", "hidden_size": cfg.text_hidden, "num_hidden_layers": cfg.text_layers,
        "num_attention_heads": cfg.text_heads, "max_position_embeddings": cfg.max_length, "vocab_size": cfg.vocab_size})
    _json(os.path.join(out, "model_index.json"), {
        "_class_name": "OnnxStableDiffusionPipeline", "_ddps_pack": name,
        "text_encoder": ["diffusers", "OnnxRuntimeModel"], "unet": ["diffusers", "OnnxRuntimeModel"],
        "vae_encoder": ["diffusers", "OnnxRuntimeModel"], "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "PNDMScheduler"]})
    return files
