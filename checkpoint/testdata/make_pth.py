#!/usr/bin/python3
"""Writes the torch.save checkpoints that checkpoint/pth_test.go reads, and
pth_golden.json, what torch itself says is in them.

Run from this folder with Debian's PyTorch (apt-get install -y python3-torch):

    /usr/bin/python3 make_pth.py

Files:
  samba.pth     a lit-gpt Samba training checkpoint in miniature (2 blocks,
                Mamba then SWA, n_embd 32), saved as pretrain.py's
                fabric.save does with FSDP full state dicts: {model,
                optimizer, hparams, iter_num, step_count}, fp32 weights, the
                tied head under both names, AdamW state after one step.
  dtypes.pth    a bare state dict of nn.Parameters and buffers in bf16, f16,
                f32, f64 and int64, with a 0-d and an empty tensor.
  strided.pth   a bare state dict of views: transposed, sliced, with a
                storage offset, expanded (stride 0).
  legacy.pth    the pre-1.6 non-zip format, which the reader refuses.
  pickles.json  plain Python objects pickled with protocols 0-5, with their
                repr(), to test the unpickler against Python itself.

With --large PATH it writes only a Samba_421M-shaped training checkpoint of
about 5 GB to PATH, for TestOpenPthLarge (SAMBAEVAL_LARGE_PTH=PATH).

pth_golden.json holds, per file, the SHA-256 of the row-major little-endian
bytes of every tensor OpenPth must return, and the listing ListPth must give:
[name, dtype, shape, index of the first entry sharing its storage or null].
"""

import base64
import collections
import hashlib
import json
import math
import pickle
import sys

import torch
from torch import nn

torch.manual_seed(3407)

# Samba-shaped hyperparameters (lit-gpt Config field names), scaled down so
# that the checkpoint with its optimizer state stays under 200 KB.
N_EMBD = 32
VOCAB = 16
N_HEAD = 4
N_QUERY_GROUPS = 1
HEAD_SIZE = 8
INTERMEDIATE = 8
D_STATE = 4
D_CONV = 4
EXPAND = 2
D_INNER = EXPAND * N_EMBD
DT_RANK = math.ceil(N_EMBD / 16)


class RMSNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(n))


class Mamba(nn.Module):
    """Parameter names and registration order of lit_gpt/mamba_simple.py."""

    def __init__(self):
        super().__init__()
        self.in_proj = nn.Linear(N_EMBD, 2 * D_INNER, bias=False)
        self.conv1d = nn.Conv1d(D_INNER, D_INNER, D_CONV, groups=D_INNER, padding=D_CONV - 1, bias=True)
        self.x_proj = nn.Linear(D_INNER, DT_RANK + 2 * D_STATE, bias=False)
        self.dt_proj = nn.Linear(DT_RANK, D_INNER, bias=True)
        a = torch.arange(1, D_STATE + 1, dtype=torch.float32).repeat(D_INNER, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(D_INNER))
        self.out_proj = nn.Linear(D_INNER, N_EMBD, bias=False)


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        shape = (N_HEAD + 2 * N_QUERY_GROUPS) * HEAD_SIZE
        self.attn = nn.Linear(N_EMBD, shape, bias=False)
        self.proj = nn.Linear(N_HEAD * HEAD_SIZE, N_EMBD, bias=False)


class SwiGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(N_EMBD, INTERMEDIATE, bias=False)
        self.w2 = nn.Linear(N_EMBD, INTERMEDIATE, bias=False)
        self.w3 = nn.Linear(INTERMEDIATE, N_EMBD, bias=False)


class LLaMAMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.swiglu = SwiGLU()


class Block(nn.Module):
    def __init__(self, i):
        super().__init__()
        self.norm_1 = RMSNorm(N_EMBD)
        self.attn = Mamba() if i % 2 == 0 else CausalSelfAttention()
        self.norm_2 = RMSNorm(N_EMBD)
        self.mlp = LLaMAMLP()


class GPT(nn.Module):
    def __init__(self, n_layer):
        super().__init__()
        self.lm_head = nn.Linear(N_EMBD, VOCAB, bias=False)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, N_EMBD),
            h=nn.ModuleList(Block(i) for i in range(n_layer)),
            ln_f=RMSNorm(N_EMBD),
        ))
        self.lm_head.weight = self.transformer.wte.weight  # tied, as with mamba_init


def samba_checkpoint():
    model = GPT(n_layer=2)
    opt = torch.optim.AdamW(model.parameters(), lr=4e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    loss = sum((p * p).sum() for p in model.parameters())
    loss.backward()
    opt.step()
    # FSDP full optimizer state dicts key the state by parameter name.
    names = [n for n, _ in model.named_parameters()]
    sd = opt.state_dict()
    optim = {
        "state": {names[i]: s for i, s in sd["state"].items()},
        "param_groups": [dict(g, params=[names[i] for i in g["params"]]) for g in sd["param_groups"]],
    }
    hparams = {
        "model_name": "Samba_421M", "name": "Samba_421M_test", "num_of_devices": 8, "global_batch_size": 512,
        "learning_rate": 4e-4, "micro_batch_size": 8, "max_tokens": 20_000_000_000, "weight_decay": 0.1,
        "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0, "decay_lr": True, "min_lr": 4e-5, "resume": None,
        "betas": (0.9, 0.95), "train_data": ["slimpajama", "train"], "negative": -1234567, "max_seq": 2**31,
    }
    return {"model": model.state_dict(), "optimizer": optim, "hparams": hparams, "iter_num": 1000, "step_count": 250}


def dtypes_state_dict():
    g = torch.Generator().manual_seed(1)
    return {
        "bf16.weight": nn.Parameter(torch.randn(3, 5, generator=g).to(torch.bfloat16)),
        "f16.weight": nn.Parameter(torch.randn(7, generator=g).half()),
        "f32.scalar": torch.tensor(2.5),
        "f64.values": torch.randn(2, 2, generator=g, dtype=torch.float64),
        "steps": torch.tensor([1, -2, 3_000_000_000], dtype=torch.int64),
        "empty": torch.zeros(0, 4),
        "bf16.bias": torch.tensor([1.0, -0.0, float("inf"), 3.140625], dtype=torch.bfloat16),
    }


def strided_state_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    cube = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(2))
    return {
        "base": base,
        "transposed": base.t(),
        "rows": base[2:],  # contiguous, storage offset 12
        "slice": base[1:3, ::2],  # offset and stride 2
        "column": base[:, 3],
        "expanded": torch.arange(3, dtype=torch.float32).expand(4, 3),  # stride 0
        "permuted": cube.permute(2, 0, 1),
    }


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)
    return t.numpy().tobytes()


DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64"}


def sha256(t):
    return hashlib.sha256(tensor_bytes(t)).hexdigest()


def listing(obj):
    """Every tensor reachable through dicts, lists and tuples, in order."""
    out, first_of = [], {}

    def walk(name, v):
        if isinstance(v, torch.Tensor):
            ptr = v.untyped_storage().data_ptr() if hasattr(v, "untyped_storage") else v.storage().data_ptr()
            entry = [name, DTYPES[v.dtype], list(v.shape), first_of.get(ptr)]
            first_of.setdefault(ptr, len(out))
            out.append(entry)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(f"{name}/{k}" if name else str(k), x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(f"{name}/{i}" if name else str(i), x)

    walk("", obj)
    return out


def pickle_cases():
    shared = [1, 2]
    objects = [
        {
            "a": 1, "list": [1, 2.5, -3, None, True, False], "one": (1,), "empty": (), "t3": (1, "x", 2.0),
            "big": 2**70, "neg": -2**40, "negbig": -2**100, "n": -1, "b255": 255, "b65535": 65535,
            "i31": 2**31 - 1, "text": "h\u00e9llo \u2713 \U0001f600", "bytes": b"\x00\xffab'",
            "nested": {"x": {"y": [{}]}}, 5: "int key", -7: None, "set": {3}, "fz": frozenset({4}),
            "eset": set(), "floats": [0.1, 1e-05, 0.0001, 1e16, 123456789.0, -0.0, 1.5e300, float("inf")],
            "bigkey": {2**65: 1}, "tuplekey": {(1, "a"): 2}, "cls": collections.OrderedDict,
        },
        [shared, shared, (shared,)],
    ]
    return [{"repr": repr(o), "pickles": [base64.b64encode(pickle.dumps(o, protocol=p)).decode() for p in range(6)]}
            for o in objects]


def large_checkpoint(path):
    """A Samba_421M-shaped training checkpoint (about 5 GB: fp32 weights and
    AdamW moments) for measuring memory use; not committed."""
    d, e, r, n, v, mlp, layers = 1536, 3072, 96, 16, 32000, 4096, 12
    model = collections.OrderedDict()
    wte = torch.empty(v, d).normal_(0, 0.02)
    model["lm_head.weight"] = wte.clone()  # the 5.26 GB files hold the head twice
    model["transformer.wte.weight"] = wte
    for i in range(layers):
        p = f"transformer.h.{i}."
        model[p + "norm_1.weight"] = torch.ones(d)
        if i % 2 == 0:
            model[p + "attn.A_log"] = torch.log(torch.arange(1, n + 1, dtype=torch.float32).repeat(e, 1))
            model[p + "attn.D"] = torch.ones(e)
            model[p + "attn.in_proj.weight"] = torch.empty(2 * e, d).normal_(0, 0.02)
            model[p + "attn.conv1d.weight"] = torch.empty(e, 1, 4).normal_(0, 0.02)
            model[p + "attn.conv1d.bias"] = torch.zeros(e)
            model[p + "attn.x_proj.weight"] = torch.empty(r + 2 * n, e).normal_(0, 0.02)
            model[p + "attn.dt_proj.weight"] = torch.empty(e, r).normal_(0, 0.02)
            model[p + "attn.dt_proj.bias"] = torch.zeros(e)
            model[p + "attn.out_proj.weight"] = torch.empty(d, e).normal_(0, 0.02)
        else:
            model[p + "attn.attn.weight"] = torch.empty(3 * d, d).normal_(0, 0.02)
            model[p + "attn.proj.weight"] = torch.empty(d, d).normal_(0, 0.02)
        model[p + "norm_2.weight"] = torch.ones(d)
        model[p + "mlp.swiglu.w1.weight"] = torch.empty(mlp, d).normal_(0, 0.02)
        model[p + "mlp.swiglu.w2.weight"] = torch.empty(mlp, d).normal_(0, 0.02)
        model[p + "mlp.swiglu.w3.weight"] = torch.empty(d, mlp).normal_(0, 0.02)
    model["transformer.ln_f.weight"] = torch.ones(d)
    state = {k: {"step": torch.tensor(1000.0), "exp_avg": torch.empty_like(t).normal_(0, 1e-3),
                 "exp_avg_sq": torch.empty_like(t).uniform_(0, 1e-6)}
             for k, t in model.items() if k != "lm_head.weight"}
    optim = {"state": state, "param_groups": [{"lr": 4e-4, "betas": (0.9, 0.95), "params": list(state)}]}
    torch.save({"model": model, "optimizer": optim, "hparams": {"model_name": "Samba_421M"},
                "iter_num": 1000, "step_count": 250}, path)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--large":
        large_checkpoint(sys.argv[2])
        return
    with open("pickles.json", "w") as f:
        json.dump(pickle_cases(), f, indent=1)
        f.write("\n")
    golden = {}
    for file, obj, key in [
        ("samba.pth", samba_checkpoint(), "model"),
        ("dtypes.pth", dtypes_state_dict(), ""),
        ("strided.pth", strided_state_dict(), ""),
    ]:
        torch.save(obj, file)
        sd = obj[key] if key else obj
        golden[file] = {
            "key": key,
            "sha256": {k: sha256(v) for k, v in sd.items()},
            "list": listing(obj),
        }
    torch.save({"model": {"w": torch.ones(2)}}, "legacy.pth", _use_new_zipfile_serialization=False)
    with open("pth_golden.json", "w") as f:
        # One line per listed tensor keeps the file small and diffable.
        f.write('{"torch": %s, "files": {\n' % json.dumps(torch.__version__))
        for i, (file, g) in enumerate(golden.items()):
            f.write(' %s: {"key": %s, "sha256": {\n' % (json.dumps(file), json.dumps(g["key"])))
            f.write(",\n".join("  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in g["sha256"].items()))
            f.write('},\n "list": [\n')
            f.write(",\n".join("  " + json.dumps(e) for e in g["list"]))
            f.write("]}" + (",\n" if i < len(golden) - 1 else "\n"))
        f.write("}}\n")


if __name__ == "__main__":
    main()
