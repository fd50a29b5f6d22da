"""PyTorch side of the CUDA benchmark (benchmarks/cuda_bench.sh): IronTensor's protocol on the GPU,
the same Llama as build/bench --backend cuda (benchmarks/torch_llama.py, built on the GPU through
torch.set_default_device): B x T random token ids, Lion (lr 3e-4, betas 0.9/0.99, wd 0.1 on
matrices; multi-tensor torch._foreach ops, as a tuned optimizer would be), clip_grad_norm_ 1.0
(foreach), cosine schedule with 5 warmup steps, 5 warmup steps discarded, then N timed steps,
torch.cuda.synchronize() around each step. fp32 eager by default (TF32 off, PyTorch's default for
matmuls; --tf32 allows it), or --bf16 (autocast) and --compile. Prints one machine-readable line:
  torch_cuda preset=P mode=M step_ms=X tok_s=Y peak_mb=Z tflops=F
peak_mb is torch.cuda.max_memory_allocated (the caching allocator's true high-water mark).
"""
import argparse, math, sys, time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_llama import Llama  # noqa: E402

PRESETS = {"tiny": (32000, 256, 4, 4, 4, 512), "small": (32000, 512, 8, 8, 8, 1024), "medium": (32000, 1024, 16, 16, 16, 2816)}


class A:
    pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores in fp32 matmuls")
    o = p.parse_args()
    a = A()
    a.vocab, a.dim, a.layers, a.heads, a.kv_heads, a.ffn = PRESETS[o.preset]
    a.theta = 10000.0
    torch.manual_seed(1)
    torch.set_default_device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = o.tf32
    torch.backends.cudnn.allow_tf32 = o.tf32
    model = Llama(a)
    params = list(model.parameters())
    decay = [q.dim() >= 2 for q in params]
    mom = [torch.zeros_like(q) for q in params]
    step_fn = model
    if o.compile:
        step_fn = torch.compile(model)

    def lion(lr):
        with torch.no_grad():
            grads = [q.grad for q in params]
            c = torch._foreach_mul(mom, 0.9)
            torch._foreach_add_(c, grads, alpha=0.1)
            upd = torch._foreach_sign(c)
            dec = [q for q, d in zip(params, decay) if d]
            torch._foreach_mul_(dec, 1 - lr * 0.1)
            torch._foreach_add_(params, upd, alpha=-lr)
            torch._foreach_mul_(mom, 0.99)
            torch._foreach_add_(mom, grads, alpha=0.01)

    def lr_at(step, total):
        if step < 5:
            return 3e-4 * (step + 1) / 5
        return 3e-4 * 0.5 * (1 + math.cos(math.pi * (step - 5) / max(1, total - 5)))

    warm, total = 5, 5 + o.steps
    times = []
    torch.cuda.reset_peak_memory_stats()
    for step in range(total):
        x = torch.randint(0, a.vocab, (o.batch, o.seq))
        y = torch.randint(0, a.vocab, (o.batch, o.seq))
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for q in params:
            q.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=o.bf16):
            loss = step_fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        lion(lr_at(step, total))
        torch.cuda.synchronize()
        if step >= warm:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    C, F, L, V, T = a.dim, a.ffn, a.layers, a.vocab, o.seq
    KV = C // a.heads * a.kv_heads
    fwd = 2.0 * (L * (2 * C * C + 2 * C * KV + 3 * C * F) + V * C) + L * 2.0 * C * (T + 1)
    tflops = 3 * fwd * o.batch * T / med * 1e-12
    mode = ("bf16" if o.bf16 else "tf32" if o.tf32 else "fp32") + ("+compile" if o.compile else "")
    print(f"torch_cuda preset={o.preset} mode={mode} step_ms={med * 1e3:.2f} spread_ms={(times[-1] - times[0]) * 1e3:.2f} "
          f"tok_s={o.batch * T / med:.0f} peak_mb={torch.cuda.max_memory_allocated() / 2**20:.1f} tflops={tflops:.1f} "
          f"loss={loss.item():.3f} torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
