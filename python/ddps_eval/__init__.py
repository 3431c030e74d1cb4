"""ddps's PyTorch side: students for `ddps evaluate`, and the small diffusion pack.

ddps (TypeScript) runs these modules as child processes; each prints one JSON object per line on
stdout. The package also serves users directly: see the README's "Evaluating a distilled set".
"""
