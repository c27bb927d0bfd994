"""Reference forward pass of lit-gpt's pure Mamba models (config mamba=True:
lit_gpt/model.py GPT built from mamba_ssm blocks, create_block/MBlock).

Each MBlock takes (hidden_states, residual), adds them, normalises the sum
with its RMSNorm `norm` and runs its Mamba `mixer`; after the last block the
final residual sum goes through ln_f. There is no MLP.
"""

import torch

from common import linear, mamba_mixer, rms_norm


def forward(cfg, W, ids):
    eps = cfg.get("norm_eps", 1e-5)
    d_model = cfg["n_embd"]
    args = dict(
        d_state=cfg.get("mamba_d_state", 16),
        d_conv=cfg.get("mamba_d_conv", 4),
        dt_rank=cfg.get("mamba_dt_rank") or -(-d_model // 16),
        conv_bias=cfg.get("mamba_conv_bias", True),
    )
    hidden = W["transformer.wte.weight"][torch.tensor(ids)]
    residual = None
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        residual = hidden + residual if residual is not None else hidden
        hidden = mamba_mixer(rms_norm(residual, W[p + "norm.weight"], eps), W, p + "mixer.", **args)
    residual = hidden + residual
    x = rms_norm(residual, W["transformer.ln_f.weight"], eps)
    return linear(x, W["transformer.wte.weight"])  # mamba=True ties lm_head to wte
