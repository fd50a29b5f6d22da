#!/usr/bin/env python3
"""One PEFT (or full) fine-tuning configuration timed in PyTorch on the CPU, for
benchmarks/lora_bench.sh: the model of MODEL_DIR (an IronTensor checkpoint, which transformers
loads as a LlamaForCausalLM), batch 4 x seq 128 of random byte ids, AdamW lr 1e-4, LoRA r 8
alpha 16 on all seven projections (or every weight with `full`).

    python3 benchmarks/peft_step.py MODEL_DIR lora|full STEPS THREADS

Prints median ms/step over the steps after the first two and the process's peak RSS."""
import resource
import statistics
import sys
import time

import torch
import transformers

model_dir, mode, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
if mode == "lora":
    import peft
    cfg = peft.LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.0,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = peft.get_peft_model(model, cfg)
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
times = []
for step in range(steps):
    ids = torch.randint(0, model.config.vocab_size, (4, 129))
    t0 = time.perf_counter()
    out = model(input_ids=ids[:, :-1], labels=ids[:, :-1])
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    times.append((time.perf_counter() - t0) * 1000)
t = times[2:]
print("%-28s median %8.1f ms/step  (min %.1f, max %.1f, n %d)  peak RSS %.0f MB  (torch %s, %d threads%s)" %
      ("PyTorch %s" % ("PEFT LoRA r8 all-linear" if mode == "lora" else "full fine-tune"), statistics.median(t), min(t), max(t),
       len(t), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, torch.__version__, threads,
       ", peft " + __import__("peft").__version__ if mode == "lora" else ""))
