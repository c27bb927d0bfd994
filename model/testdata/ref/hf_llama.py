"""Reference forward pass of the Hugging Face decoders LlamaForCausalLM
(Llama-2, Llama-3), MistralForCausalLM and Phi3ForCausalLM, written after
transformers' modeling code: RMSNorm in float, rotate_half RoPE with
rope_theta, grouped-query attention by repeat_kv, SiLU-gated MLP, untied
lm_head unless tie_word_embeddings.

sliding_window w is applied as flash-attn's left window (window_size=(w, w)
in Mistral's and Phi-3's own modeling code): a query sees itself and the w
keys before it.
"""

import torch
import torch.nn.functional as F

from common import causal_attention, linear, rms_norm


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rotary(T, dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def repeat_kv(x, n_rep):
    """[T, kv, hd] -> [T, kv*n_rep, hd], each kv head repeated n_rep times in place."""
    T, kv, hd = x.shape
    return x[:, :, None, :].expand(T, kv, n_rep, hd).reshape(T, kv * n_rep, hd)


def forward(cfg, W, ids):
    arch = cfg["architectures"][0]
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or D // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    window = cfg.get("sliding_window")
    ids = torch.tensor(ids)
    T = len(ids)
    cos, sin = rotary(T, hd, theta)
    cos, sin = cos[:, None, :], sin[:, None, :]

    x = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        if arch == "Phi3ForCausalLM":
            qkv = linear(h, W[p + "self_attn.qkv_proj.weight"])
            q = qkv[:, : H * hd]
            k = qkv[:, H * hd : (H + KV) * hd]
            v = qkv[:, (H + KV) * hd :]
        else:
            q = linear(h, W[p + "self_attn.q_proj.weight"])
            k = linear(h, W[p + "self_attn.k_proj.weight"])
            v = linear(h, W[p + "self_attn.v_proj.weight"])
        q, k, v = q.view(T, H, hd), k.view(T, KV, hd), v.view(T, KV, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, H // KV), repeat_kv(v, H // KV)
        a = causal_attention(q, k, v, window if window else None).reshape(T, H * hd)
        x = x + linear(a, W[p + "self_attn.o_proj.weight"])

        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        if arch == "Phi3ForCausalLM":
            gate, up = linear(h, W[p + "mlp.gate_up_proj.weight"]).chunk(2, dim=-1)
            m = up * F.silu(gate)
        else:
            m = F.silu(linear(h, W[p + "mlp.gate_proj.weight"])) * linear(h, W[p + "mlp.up_proj.weight"])
        x = x + linear(m, W[p + "mlp.down_proj.weight"])

    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else W["lm_head.weight"]
    return linear(x, head)
