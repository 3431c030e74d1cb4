"""ddps's PyTorch side: students for `ddps evaluate`, and the small diffusion pack.

ddps (TypeScript) runs these modules as child processes; each prints one JSON object per line on
stdout. The package also serves users directly: `ShardDataset` reads ddps's distilled shards as a
torch Dataset (see the README's "Evaluating a distilled set").
"""

__all__ = ["ShardDataset", "iter_samples", "read_records"]


def __getattr__(name):
    # Imported on first use, so that `python -m ddps_eval.wds` does not find its module already loaded.
    if name in __all__:
        from . import wds

        return getattr(wds, name)
    raise AttributeError(f"module 'ddps_eval' has no attribute {name!r}")
