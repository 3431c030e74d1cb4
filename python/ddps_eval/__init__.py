"""ddps's PyTorch side: students for `ddps evaluate`, and the small diffusion pack.

ddps (TypeScript) runs these modules as child processes; each prints one JSON object per line on
stdout. The package also serves users directly: `ShardDataset` reads ddps's distilled shards as a
torch Dataset (see the README's "Evaluating a distilled set").
"""
from .wds import ShardDataset, iter_samples, read_records

__all__ = ["ShardDataset", "iter_samples", "read_records"]
