"""Pieces shared by the reference forward passes: a safetensors reader, RMSNorm,
rotary embeddings, causal (sliding-window) attention and the Mamba-1 mixer.

Everything runs in float64 on the CPU from the stored weights (bf16/f16/f32,
widened exactly), written from the published definitions (lit-gpt and
mamba_ssm as used by microsoft/Samba, Hugging Face transformers), not from the
Go engine. Sequential loops stand in for the fused kernels so each step can be
read against its definition.
"""

import json
import struct

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def load_safetensors(path):
    """Returns {name: float64 tensor} from a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        raw = bytearray(data[base + a : base + b])
        t = torch.frombuffer(raw, dtype=DTYPES[meta["dtype"]]) if raw else torch.zeros(0, dtype=DTYPES[meta["dtype"]])
        out[name] = t.reshape(meta["shape"]).to(torch.float64)
    return out


def load_dir(d):
    """Returns {name: float64 tensor} from model.safetensors or the shards of
    model.safetensors.index.json in directory d."""
    import os

    index = os.path.join(d, "model.safetensors.index.json")
    if not os.path.exists(index):
        return load_safetensors(os.path.join(d, "model.safetensors"))
    with open(index) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    W = {}
    for s in shards:
        W.update(load_safetensors(os.path.join(d, s)))
    return W


def rms_norm(x, weight, eps):
    """x * rsqrt(mean(x^2) + eps) * weight over the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def linear(x, w):
    """x @ w^T, w stored as [out, in] (torch.nn.Linear without bias)."""
    return x @ w.T


def rope_cos_sin(T, head_size, base):
    """GPT-NeoX rotary tables for positions 0..T-1: [T, head_size/2] each."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float64) / head_size))
    angles = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    return torch.cos(angles), torch.sin(angles)


def apply_rotary_half(x, cos, sin):
    """Non-interleaved rotation of x [T, heads, hs]: pairs (j, j + hs/2)."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def causal_attention(q, k, v, left_window):
    """softmax(q k^T / sqrt(hs)) v per head with a causal mask; a query at i
    sees keys j with i - left_window <= j <= i (left_window None: all j <= i).
    q [T, H, hs], k and v [T, H, hs] (already repeated for GQA)."""
    T, H, hs = q.shape
    scores = torch.einsum("thd,shd->hts", q, k) / hs**0.5
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if left_window is not None:
        allowed = allowed & (i - j <= left_window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    return torch.einsum("hts,shd->thd", p, v)


def mamba_mixer(h, W, p, d_state, d_conv, dt_rank, conv_bias=True, memory=False):
    """mamba_ssm's Mamba module (Mamba-1) over one sequence h [T, D], zero
    initial state, as the reference selective_scan_fn computes it. With
    memory=True it also returns the ungated SSM output y (D*u included), as
    SambaY's gmu_save Mamba hands it to the gated memory units."""
    T = h.shape[0]
    xz = linear(h, W[p + "in_proj.weight"])
    E = xz.shape[1] // 2
    x, z = xz[:, :E], xz[:, E:]
    # Depthwise causal conv1d: pad d_conv-1 on the left, keep the first T outputs.
    conv = F.conv1d(
        x.T.unsqueeze(0),
        W[p + "conv1d.weight"],
        W[p + "conv1d.bias"] if conv_bias else None,
        padding=d_conv - 1,
        groups=E,
    )[0, :, :T]
    u = F.silu(conv.T)  # [T, E]
    dbc = linear(u, W[p + "x_proj.weight"])
    dt, B, C = torch.split(dbc, [dt_rank, d_state, d_state], dim=-1)
    delta = F.softplus(linear(dt, W[p + "dt_proj.weight"]) + W[p + "dt_proj.bias"])  # threshold 20
    A = -torch.exp(W[p + "A_log"])  # [E, N]
    Dskip = W[p + "D"]
    s = torch.zeros(E, d_state, dtype=torch.float64)
    ys = []
    for t in range(T):
        dA = torch.exp(delta[t][:, None] * A)
        dBu = (delta[t] * u[t])[:, None] * B[t][None, :]
        s = dA * s + dBu
        ys.append(s @ C[t] + Dskip * u[t])
    y = torch.stack(ys)
    out = linear(y * F.silu(z), W[p + "out_proj.weight"])
    return (out, y) if memory else out


def swiglu(x, gate, up, down):
    """down(SiLU(gate x) * up x)."""
    return linear(F.silu(linear(x, gate)) * linear(x, up), down)
