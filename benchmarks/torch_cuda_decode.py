"""PyTorch's KV-cache decode on the GPU, for the shapes build/bench --backend cuda's decode table runs
(`tiny` and SmolLM2-135M's: 30 layers, dim 576, 9/3 heads, ffn 1536, vocab 49152, tied head, random
weights): the Llama of torch_llama.py with its preallocated cache, eager, greedy (the argmax read
back every token, as our decoder waits once a token), a 5-token prompt then N timed tokens, the
median of a few runs; fp32 (TF32 off, PyTorch's default) and bf16 weights. One line per model and dtype:
  torch_cuda_decode model=NAME dtype=D tok_s=X tok_s_min=.. tok_s_max=.. ttft_ms=..

  python3 benchmarks/torch_cuda_decode.py [--quick] [--models tiny,smollm-135m]
"""
import argparse, statistics, sys
from types import SimpleNamespace

try:
    import torch
except ImportError:
    print("torch_cuda_decode.py: PyTorch is not installed; skipped")
    sys.exit(0)
if not torch.cuda.is_available():
    print("torch_cuda_decode.py: no CUDA device; skipped")
    sys.exit(0)

from torch_llama import Llama  # noqa: E402 (after the torch check)
from torch_tiny import generate  # noqa: E402
from torch_decode import SHAPES  # noqa: E402 (the CPU decode comparison's shapes: one table)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--models", default="tiny,smollm-135m")
    a = p.parse_args()
    torch.set_default_device("cuda")  # the caches, rope tables and masks torch_llama makes land there too
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(1)
    n_gen, reps = (16, 3) if a.quick else (64, 7)
    for name in a.models.split(","):
        shape = SHAPES[name]
        for dtype in (torch.float32, torch.bfloat16):
            model = Llama(SimpleNamespace(**shape)).eval().to(dtype)
            torch.set_default_dtype(dtype)  # the caches in the weights' type
            prompt = torch.randint(0, shape["vocab"], (5,))
            try:
                with torch.inference_mode():
                    generate(model, prompt, 4, 5 + n_gen + 2)  # warm up: cuBLAS handles, kernels
                    runs = [generate(model, prompt, n_gen + 1, 5 + n_gen + 2) for _ in range(reps)]
            except RuntimeError as e:  # torch_llama's rope tables are fp32: a bf16 model may not mix
                print(f"torch_cuda_decode model={name} dtype={str(dtype).split('.')[1]} failed: {str(e).splitlines()[0]}")
                continue
            finally:
                torch.set_default_dtype(torch.float32)
            rates, ttfts = [r[1] for r in runs], [r[0] for r in runs]
            print(f"torch_cuda_decode model={name} dtype={str(dtype).split('.')[1]} tok_s={statistics.median(rates):.1f} "
                  f"tok_s_min={min(rates):.1f} tok_s_max={max(rates):.1f} ttft_ms={statistics.median(ttfts):.2f} "
                  f"(PyTorch {torch.__version__}, {torch.cuda.get_device_name()})")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
