#!/usr/bin/env python3
"""Small Hugging Face model directories for benchmarks/llamacpp_check.sh (issue 14), made by the
real libraries: transformers (random weights, seeded), tokenizers, sentencepiece.

    python3 benchmarks/llamacpp_models.py OUT_DIR TEXT_FILE [FIXTURE_DIR]

OUT_DIR/NAME for NAME in
  spm     Llama with a SentencePiece BPE tokenizer trained here by `sentencepiece` on TEXT_FILE
          (Llama 2's trainer settings: byte_fallback, identity normalisation, a dummy prefix;
          vocab 512): tokenizer.model, and the tokenizer.json transformers makes of it;
          chat template llama2.jinja
  spmjson Llama with tests/fixtures/gguf_spm's tokenizer.json (Llama 2's form: Prepend + Replace
          normalizers, which our exporter writes as GGUF's `llama` model; transformers 5 writes
          spm's as a Metaspace pre-tokenizer, which it refuses); chat template llama2.jinja
  l3      Llama with Llama 3.1's rope scaling (llama3: factor 8, one blended band) and the llama3
          tokenizer fixture (byte-level BPE, pre llama-bpe); chat template llama3.1.jinja
  qwen2   Qwen2 (q/k/v biases) with the qwen2 tokenizer fixture; chat template qwen2.5.jinja
  qwen3   Qwen3 (q/k norms, head_dim 16) with the same tokenizer and template
Each directory also gets prompt.txt (a text prompt for llamacpp_compare --prompt) and
chat_template.jinja (what llama.cpp's llama_model_chat_template must return).

With FIXTURE_DIR, the spm tokenizer is also the reference of tests/fixtures/gguf_spm_real:
FIXTURE_DIR/cases.txt holds, one per line, the hex of a UTF-8 string of
tests/fixtures/hf_tokenizers/cases.json (and a few lines of TEXT_FILE), a tab, and the ids
sentencepiece's own encoder gives it (no BOS / EOS), comma-separated; FIXTURE_DIR/logits.txt the
ids of a prompt, a tab, and transformers' float32 logits at the prompt's last position. The
model for that fixture is OUT_DIR/spm itself (1 layer, dim 32: small enough to commit once
llama.cpp's convert_hf_to_gguf.py has written it as GGUF).
"""
import json
import os
import shutil
import sys
import traceback

import sentencepiece as spm
import torch
import transformers

OUT, TEXT = sys.argv[1], sys.argv[2]
FIXTURE = sys.argv[3] if len(sys.argv) > 3 else None
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZERS = os.path.join(REPO, "tests", "fixtures", "hf_tokenizers")
TEMPLATES = os.path.join(REPO, "tests", "fixtures", "chat_templates")
PROMPT = "ROMEO:\nWhat say you, my lord? 123 caf\u00e9 \u2713"


def save(name, model, template):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d)
    shutil.copy(os.path.join(TEMPLATES, template), os.path.join(d, "chat_template.jinja"))
    with open(os.path.join(d, "prompt.txt"), "w", encoding="utf-8") as f:
        f.write(PROMPT)
    return d


def copy_tokenizer(d, fixture):
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZERS, fixture, f), os.path.join(d, f))


def vocab_of(fixture):
    tok = json.load(open(os.path.join(TOKENIZERS, fixture, "tokenizer.json"), encoding="utf-8"))
    ids = list(tok["model"]["vocab"].values()) + [a["id"] for a in tok["added_tokens"]]
    return max(ids) + 1


def small(cls_config, vocab, **kw):
    base = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.1, tie_word_embeddings=False)
    base.update(kw)
    return cls_config(**base)


# the qwen2 fixture's <|endoftext|> (0) is bos and eos, as Qwen2's own config has it
QWEN = dict(bos_token_id=0, eos_token_id=0, rms_norm_eps=1e-6, use_sliding_window=False,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
torch.manual_seed(14)
os.makedirs(OUT, exist_ok=True)

# spm: a SentencePiece BPE model trained on TEXT_FILE, with Llama 2's trainer settings
spm_dir = os.path.join(OUT, "spm")
os.makedirs(spm_dir, exist_ok=True)
text = open(TEXT, encoding="utf-8").read()
sample = os.path.join(OUT, "spm_train.txt")
with open(sample, "w", encoding="utf-8") as f:
    f.write(text[:200000])
spm.SentencePieceTrainer.train(input=sample, model_prefix=os.path.join(spm_dir, "tokenizer"), model_type="bpe",
                               vocab_size=512, byte_fallback=True, normalization_rule_name="identity",
                               remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True,
                               allow_whitespace_only_pieces=True, character_coverage=0.99995, unk_id=0, bos_id=1,
                               eos_id=2, pad_id=-1, max_sentencepiece_length=16, num_threads=4,
                               minloglevel=2)
os.remove(os.path.join(spm_dir, "tokenizer.vocab"))
sp = spm.SentencePieceProcessor(model_file=os.path.join(spm_dir, "tokenizer.model"))
config = {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
          "add_bos_token": True, "add_eos_token": False, "legacy": True}
with open(os.path.join(spm_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump(config, f, indent=1)
try:  # the tokenizer.json transformers converts tokenizer.model to (Llama 2's own was made so)
    hf = transformers.AutoTokenizer.from_pretrained(spm_dir, legacy=True)
    hf.save_pretrained(spm_dir)
    tj = json.load(open(os.path.join(spm_dir, "tokenizer.json"), encoding="utf-8"))
    print("spm: transformers %s made tokenizer.json: normalizer %s, pre_tokenizer %s" %
          (transformers.__version__, json.dumps(tj.get("normalizer"))[:200], json.dumps(tj.get("pre_tokenizer"))[:200]))
except Exception:
    print("spm: transformers could not make a tokenizer.json of tokenizer.model:")
    traceback.print_exc(file=sys.stdout)
    hf = None
llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
    vocab_size=sp.vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.1, tie_word_embeddings=False,
    bos_token_id=1, eos_token_id=2, rms_norm_eps=1e-5))
save("spm", llama, "llama2.jinja")

if FIXTURE:
    os.makedirs(FIXTURE, exist_ok=True)
    cases = json.load(open(os.path.join(TOKENIZERS, "cases.json"), encoding="utf-8"))["strings"]
    cases += [line for line in text[300000:303000].split("\n") if line][:20]
    hf_equal = 0
    with open(os.path.join(FIXTURE, "cases.txt"), "w", encoding="ascii") as f:
        for s in cases:
            ids = sp.encode(s)
            if hf is not None and hf.encode(s, add_special_tokens=False) == ids:
                hf_equal += 1
            f.write("%s\t%s\n" % (s.encode("utf-8").hex(), ",".join(map(str, ids))))
    print("spm: %d cases; transformers' tokenizer gives sentencepiece's ids on %s of them" %
          (len(cases), hf_equal if hf is not None else "none"))
    prompt_ids = [1] + sp.encode(PROMPT)
    with torch.no_grad():
        logits = llama(torch.tensor([prompt_ids])).logits[0, -1]
    with open(os.path.join(FIXTURE, "logits.txt"), "w", encoding="ascii") as f:
        f.write("%s\t%s\n" % (",".join(map(str, prompt_ids)), ",".join("%.9g" % v for v in logits.tolist())))

d = save("spmjson", transformers.LlamaForCausalLM(small(transformers.LlamaConfig, vocab_of("../gguf_spm"), bos_token_id=1,
                                                          eos_token_id=2, rms_norm_eps=1e-5)), "llama2.jinja")
copy_tokenizer(d, "../gguf_spm")
d = save("l3", transformers.LlamaForCausalLM(small(
    transformers.LlamaConfig, vocab_of("llama3"), head_dim=16, bos_token_id=0, eos_token_id=1,
    rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 64})), "llama3.1.jinja")
copy_tokenizer(d, "llama3")
d = save("qwen2", transformers.Qwen2ForCausalLM(small(transformers.Qwen2Config, vocab_of("qwen2"), **QWEN)), "qwen2.5.jinja")
copy_tokenizer(d, "qwen2")
d = save("qwen3", transformers.Qwen3ForCausalLM(small(transformers.Qwen3Config, vocab_of("qwen2"), head_dim=16, **QWEN)),
         "qwen2.5.jinja")
copy_tokenizer(d, "qwen2")
print("llamacpp_models: spm (vocab %d), spmjson, l3, qwen2, qwen3 in %s" % (sp.vocab_size(), OUT))
