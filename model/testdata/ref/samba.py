"""Reference forward pass of microsoft/Samba's lit-gpt GPT (lit_gpt/model.py
GPT with Block): Samba, Mamba-SWA-MLP, MLP2-SWA-MLP (abl_mamba), Mamba-MLP,
LLaMA and LLaMA-SWA, and the layer-placement ablations (attn_layer_pos,
full_per_layer), with lit-gpt's field names and rules.

Attention follows the flash-attn path Samba is evaluated with (pitfall 2 of
the architecture reference): window_size=(local_window-1, 0).
"""

import ast

import torch

from common import apply_rotary_half, causal_attention, linear, mamba_mixer, rms_norm, rope_cos_sin, swiglu


class LitGPT:
    def __init__(self, cfg, W):
        self.cfg, self.W = cfg, W
        self.n_layer = cfg["n_layer"]
        self.eps = cfg.get("norm_eps", 1e-5)
        self.n_embd = cfg["n_embd"]
        self.n_head = cfg["n_head"]
        self.groups = cfg.get("n_query_groups") or self.n_head
        self.hs = cfg.get("head_size") or self.n_embd // self.n_head
        self.local_window = cfg.get("local_window", -1)
        self.full_per_layer = cfg.get("full_per_layer", 1000000)
        self.mb_per_layer = cfg.get("mb_per_layer", -1)
        self.attn_layer_pos = cfg.get("attn_layer_pos")
        self.mlp = cfg.get("mlp", True)
        self.nope = cfg.get("nope", False)
        self.base = cfg.get("rope_base", 10000)
        self.mamba_args = dict(
            d_state=cfg.get("mamba_d_state", 16),
            d_conv=cfg.get("mamba_d_conv", 4),
            dt_rank=cfg.get("mamba_dt_rank") or -(-self.n_embd // 16),
            conv_bias=cfg.get("mamba_conv_bias", True),
        )
        # GPT.__init__ ties lm_head to wte when mamba or mamba_init; converted
        # model directories (samba-tiny) say tie_embeddings instead.
        tie = cfg.get("mamba", False) or cfg.get("mamba_init", False) or cfg.get("tie_embeddings", False)
        self.head = W["transformer.wte.weight"] if tie else W["lm_head.weight"]

    def use_mamba(self, i):
        if self.attn_layer_pos is not None:
            return i not in ast.literal_eval(self.attn_layer_pos)
        return self.mb_per_layer > 0 and i % self.mb_per_layer == 0

    def attention(self, x, p, i, rope):
        """CausalSelfAttention: fused grouped QKV, RoPE, flash-attn window."""
        T = x.shape[0]
        q_per_kv = self.n_head // self.groups
        qkv = linear(x, self.W[p + "attn.weight"]).view(T, self.groups, q_per_kv + 2, self.hs)
        q, k, v = qkv.split((q_per_kv, 1, 1), dim=-2)
        q = q.reshape(T, -1, self.hs)
        k = k.reshape(T, -1, self.hs)
        v = v.reshape(T, -1, self.hs)
        if not self.nope:
            cos, sin = rope
            q, k = apply_rotary_half(q, cos, sin), apply_rotary_half(k, cos, sin)
        # flash-attn serves query head h from key/value head h // q_per_kv.
        k = k.repeat_interleave(q_per_kv, dim=1)
        v = v.repeat_interleave(q_per_kv, dim=1)
        local = i % self.full_per_layer < self.full_per_layer - 1
        left = self.local_window - 1 if local and self.local_window > 0 else None
        y = causal_attention(q, k, v, left).reshape(T, -1)
        return linear(y, self.W[p + "proj.weight"])

    def llama_mlp(self, x, p):
        """LLaMAMLP: xformers SwiGLU w3(SiLU(w1 x) * w2 x)."""
        W = self.W
        return swiglu(x, W[p + "swiglu.w1.weight"], W[p + "swiglu.w2.weight"], W[p + "swiglu.w3.weight"])

    def block(self, x, i, rope):
        W, p = self.W, f"transformer.h.{i}."
        if self.cfg.get("mamba_swa_mlp", False):
            x = mamba_mixer(rms_norm(x, W[p + "norm_m.weight"], self.eps), W, p + "mb.", **self.mamba_args) + x
            x = self.attention(rms_norm(x, W[p + "norm_attn.weight"], self.eps), p + "attn.", i, rope) + x
        else:
            n1 = rms_norm(x, W[p + "norm_1.weight"], self.eps)
            if self.use_mamba(i):
                if self.cfg.get("abl_mamba", False):
                    h = self.llama_mlp(n1, p + "attn.")  # LLaMAMLP of width 2*n_embd in the mixer's place
                else:
                    h = mamba_mixer(n1, W, p + "attn.", **self.mamba_args)
            else:
                h = self.attention(n1, p + "attn.", i, rope)
            x = x + h
        if self.mlp:
            x = x + self.llama_mlp(rms_norm(x, W[p + "norm_2.weight"], self.eps), p + "mlp.")
        return x

    def forward(self, ids):
        x = self.W["transformer.wte.weight"][ids]
        rope = rope_cos_sin(len(ids), self.hs, self.base)
        for i in range(self.n_layer):
            x = self.block(x, i, rope)
        x = rms_norm(x, self.W["transformer.ln_f.weight"], self.eps)
        return linear(x, self.head)


def forward(cfg, W, ids):
    return LitGPT(cfg, W).forward(torch.tensor(ids))
