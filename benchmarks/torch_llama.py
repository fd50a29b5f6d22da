"""The reference Llama in plain PyTorch, shared by benchmarks/torch_train.py and
benchmarks/torch_tiny.py: RMSNorm pre-norm, half-split RoPE (pairs i, i + D/2, angle
pos * theta^(-2i/D)), grouped-query attention, SwiGLU, tied head, init N(0, 0.02) with residual
projections scaled by 1/sqrt(2 layers); an optional KV cache for decoding. Written independently of
the C code. `a` carries vocab, dim, layers, heads, kv_heads, ffn, theta.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Rms(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(T, D, theta, offset=0):
    inv = theta ** (-torch.arange(0, D // 2, dtype=torch.float64) * 2.0 / D)
    ang = torch.arange(offset, offset + T, dtype=torch.float64)[:, None] * inv[None, :]
    return ang.cos().float()[None, :, None, :], ang.sin().float()[None, :, None, :]


def rope(x, cos, sin):  # x [B, T, H, D]; pairs (i, i + D/2)
    D = x.shape[-1]
    x0, x1 = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a, self.hd = a, a.dim // a.heads
        self.attn_norm, self.mlp_norm = Rms(a.dim), Rms(a.dim)
        self.q = nn.Linear(a.dim, a.heads * self.hd, bias=False)
        self.k = nn.Linear(a.dim, a.kv_heads * self.hd, bias=False)
        self.v = nn.Linear(a.dim, a.kv_heads * self.hd, bias=False)
        self.o = nn.Linear(a.dim, a.dim, bias=False)
        self.gate = nn.Linear(a.dim, a.ffn, bias=False)
        self.up = nn.Linear(a.dim, a.ffn, bias=False)
        self.down = nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        a, B, T = self.a, x.shape[0], x.shape[1]
        h = self.attn_norm(x)
        q = rope(self.q(h).view(B, T, a.heads, self.hd), cos, sin).transpose(1, 2)
        k = rope(self.k(h).view(B, T, a.kv_heads, self.hd), cos, sin).transpose(1, 2)
        v = self.v(h).view(B, T, a.kv_heads, self.hd).transpose(1, 2)
        if cache is not None:  # (k_cache, v_cache, pos): preallocated [1, Hkv, max_seq, D]
            kc, vc, pos = cache
            kc[:, :, pos : pos + T] = k
            vc[:, :, pos : pos + T] = v
            k, v = kc[:, :, : pos + T], vc[:, :, : pos + T]
        rep = a.heads // a.kv_heads
        if rep > 1:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        if mask is not None:
            att = att + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, a.dim)
        x = x + self.o(y)
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList([Layer(a) for _ in range(a.layers)])
        self.norm = Rms(a.dim)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
                if name.endswith("o.weight") or name.endswith("down.weight"):
                    p.data /= math.sqrt(2 * a.layers)

    def hidden(self, idx, offset=0, caches=None):
        T = idx.shape[1]
        cos, sin = rope_tables(T, self.a.dim // self.a.heads, self.a.theta, offset)
        mask = None
        if T > 1:  # causal within the new rows; every cached position is visible
            mask = torch.full((T, offset + T), float("-inf")).triu(offset + 1)
        x = self.embed(idx)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, None if caches is None else (caches[i][0], caches[i][1], offset))
        return self.norm(x)

    def forward(self, idx, targets):
        logits = self.hidden(idx) @ self.embed.weight.t()  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))
