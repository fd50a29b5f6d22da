"""PyTorch's f32 decode of the shapes build/bench's quantised-decode table runs (`tiny` and
SmolLM2-135M's: 30 layers, dim 576, 9/3 heads, ffn 1536, vocab 49152, tied head, random weights):
the KV-cache Llama of torch_llama.py, greedy, a 5-token prompt then N timed tokens, the median of
a few runs, at the given threads. The reference for the issue's "Q4_0 decode >= 5x PyTorch's f32".
Ends with one line per model:
  torch_quant model=NAME threads=K f32_tok_s=D

  /usr/bin/python3 benchmarks/torch_decode.py [--quick] [--threads K]
"""
import argparse, statistics, sys
from types import SimpleNamespace

try:
    import torch
except ImportError:
    print("torch_decode.py: PyTorch is not installed (apt-get install python3-torch); skipped")
    sys.exit(0)

from torch_llama import Llama  # noqa: E402 (after the torch check)
from torch_tiny import generate  # noqa: E402

SHAPES = {
    "tiny": dict(vocab=32000, dim=256, layers=4, heads=4, kv_heads=4, ffn=512, theta=10000.0),
    "smollm-135m": dict(vocab=49152, dim=576, layers=30, heads=9, kv_heads=3, ffn=1536, theta=100000.0),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    n_gen, reps = (16, 3) if a.quick else (48, 5)
    for name, shape in SHAPES.items():
        model = Llama(SimpleNamespace(**shape)).eval()
        prompt = torch.randint(0, shape["vocab"], (5,))
        with torch.no_grad():
            generate(model, prompt, 3, 5 + n_gen + 2)  # warm up
            rates = [generate(model, prompt, n_gen + 1, 5 + n_gen + 2)[1] for _ in range(reps)]
        print(f"torch_quant model={name} threads={a.threads} f32_tok_s={statistics.median(rates):.1f} "
              f"(min {min(rates):.1f}, max {max(rates):.1f}, PyTorch {torch.__version__})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
