"""Reference forward pass of Phi-4-mini-flash-reasoning's SambaY
(Phi4FlashForCausalLM, model_type phi4flash), written after ArchScale's
lit_gpt/model.py Block (yoco, gmu_yoco), lit_gpt/diff_attn.py
FlashDiffAttention and lit_gpt/gated_memory_unit.py, with the checkpoint
names and the fused [Q | K | V] Wqkv of vLLM's phi4flash.py (03356f8).

With L layers:
  i < L/2, even     Mamba
  i < L/2, odd      differential attention, sliding window of w keys
                    (flash-attn window_size=(w-1, 0))
  i = L/2           Mamba whose ungated SSM output y (D*u included) is the
                    memory of the gated memory units
  i = L/2+1         differential attention, full; its keys and values are
                    the cross-attention layers'
  i >= L/2+2, even  GMU: out_proj(memory * SiLU(in_proj(x)))
  i >= L/2+2, odd   differential cross-attention: queries only, over layer
                    L/2+1's keys and values, full causal
Every layer: x += mixer(LayerNorm(x)); x += fc2(up * SiLU(gate)) with
[gate | up] = fc1(LayerNorm(x)). No positional encoding. Final LayerNorm,
head tied to the embedding. The cross-decoder runs on every position (no
YOCO last-token prefill truncation).

Differential attention is computed literally: heads split even/odd,
four softmax attentions (q1,k1,v1), (q1,k1,v2), (q2,k2,v1), (q2,k2,v2) with
scale 1/sqrt(head_dim), each with the keys and values repeated for
grouped-query attention, then subln(A1 - lambda*A2) * (1 - lambda_init).
"""

import math

import torch
import torch.nn.functional as F

from common import causal_attention, linear, mamba_mixer, rms_norm


def layer_norm(x, W, name, eps):
    """torch.nn.LayerNorm with weight and bias (biased variance)."""
    return F.layer_norm(x, (x.shape[-1],), W[name + ".weight"], W[name + ".bias"], eps)


def repeat_kv(x, n_rep):
    """[T, kv, hd] -> [T, kv*n_rep, hd], each head repeated n_rep times in place
    (flash-attn's grouped-query mapping: query head h reads head h // n_rep)."""
    T, kv, hd = x.shape
    return x[:, :, None, :].expand(T, kv, n_rep, hd).reshape(T, kv * n_rep, hd)


def diff_attention(W, p, x, depth, H, G, hd, left_window, shared_kv=None):
    """FlashDiffAttention of layer `depth`; returns the output and (k, v)."""
    T = x.shape[0]
    qkv = linear(x, W[p + "Wqkv.weight"]) + W[p + "Wqkv.bias"]
    if shared_kv is None:
        q, k, v = torch.split(qkv, [H * hd, G * hd, G * hd], dim=-1)
        k, v = k.reshape(T, G, hd), v.reshape(T, G, hd)
    else:
        q, (k, v) = qkv, shared_kv
    q = q.reshape(T, H, hd)
    # split_heads: "(H two) D -> H two D", index 0 and 1 of "two".
    q1, q2 = q[:, 0::2], q[:, 1::2]
    k1, k2 = k[:, 0::2], k[:, 1::2]
    v1, v2 = v[:, 0::2], v[:, 1::2]
    rep = (H // 2) // (G // 2)

    def attn(qq, kk, vv):
        return causal_attention(qq, repeat_kv(kk, rep), repeat_kv(vv, rep), left_window)

    a1 = torch.cat([attn(q1, k1, v1), attn(q1, k1, v2)], dim=-1)  # [T, H/2, 2hd]
    a2 = torch.cat([attn(q2, k2, v1), attn(q2, k2, v2)], dim=-1)
    inner = p + "inner_cross_attn."
    lambda_init = 0.8 - 0.6 * math.exp(-0.3 * depth)
    lam = (
        torch.exp(torch.sum(W[inner + "lambda_q1"] * W[inner + "lambda_k1"]))
        - torch.exp(torch.sum(W[inner + "lambda_q2"] * W[inner + "lambda_k2"]))
        + lambda_init
    )
    a = rms_norm(a1 - lam * a2, W[inner + "subln.weight"], 1e-5) * (1 - lambda_init)
    # "H (two D) -> (H two) D": the [T, H/2, 2hd] rows are already [T, H*hd].
    out = linear(a.reshape(T, H * hd), W[p + "out_proj.weight"]) + W[p + "out_proj.bias"]
    return out, (k, v)


def forward(cfg, W, ids):
    D = cfg["hidden_size"]
    L = cfg["num_hidden_layers"]
    H = cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or D // H
    eps = cfg.get("layer_norm_eps", 1e-5)
    window = cfg["sliding_window"]
    dt_rank = cfg.get("mamba_dt_rank", "auto")
    args = dict(
        d_state=cfg.get("mamba_d_state", 16),
        d_conv=cfg.get("mamba_d_conv", 4),
        dt_rank=-(-D // 16) if dt_rank == "auto" else dt_rank,
        conv_bias=cfg.get("mamba_conv_bias", True),
    )
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    memory, shared_kv = None, None
    for i in range(L):
        p = f"model.layers.{i}."
        h = layer_norm(x, W, p + "input_layernorm", eps)
        a = p + "attn."
        if i < L // 2 and i % 2 == 0:
            out = mamba_mixer(h, W, a, **args)
        elif i < L // 2:
            out, _ = diff_attention(W, a, h, i, H, G, hd, window - 1)
        elif i == L // 2:
            out, memory = mamba_mixer(h, W, a, memory=True, **args)
        elif i == L // 2 + 1:
            out, shared_kv = diff_attention(W, a, h, i, H, G, hd, None)
        elif i % 2 == 0:
            out = linear(memory * F.silu(linear(h, W[a + "in_proj.weight"])), W[a + "out_proj.weight"])
        else:
            out, _ = diff_attention(W, a, h, i, H, G, hd, None, shared_kv=shared_kv)
        x = x + out
        h = layer_norm(x, W, p + "post_attention_layernorm", eps)
        gate, up = linear(h, W[p + "mlp.fc1.weight"]).chunk(2, dim=-1)
        x = x + linear(up * F.silu(gate), W[p + "mlp.fc2.weight"])
    x = layer_norm(x, W, "model.final_layernorm", eps)
    return linear(x, W["model.embed_tokens.weight"])
