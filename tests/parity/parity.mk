# PyTorch parity (issue 4): an independent PyTorch model (tests/parity/parity_torch.py, no
# transformers, no safetensors package) reads our checkpoints and must reproduce the library's
# logits, loss, every parameter gradient and greedy tokens (build/parity_dump writes them) for
# Llama with GQA (tied and untied) and GPT-2 (tied and untied), plus the bf16 checkpoint option;
# then checkpoints written by build/train must greedy-decode in PyTorch exactly as
# build/generate --greedy does. Skipped with a notice when $(PARITY_PYTHON) cannot import torch.
# Included from the top-level Makefile (uses its CC, BUILD, TEST_CFLAGS, HEADERS, LDLIBS).
PARITY_PYTHON   ?= /usr/bin/python3
PARITY_VARIANTS  = llama llama-tied gpt2 gpt2-untied
PARITY_TRAIN     = --dim 48 --layers 2 --ffn 96 --max-seq 32 --batch 8 --seq 32 --steps 200 --lr 3e-3 \
                   --eval-batches 1 --eval-every 1000
PARITY_PROMPT    = static int

.PHONY: test-parity
$(BUILD)/parity_dump: tests/parity/parity_dump.c $(HEADERS) | $(BUILD)
	$(CC) $(TEST_CFLAGS) -I. $< -o $@ $(LDLIBS)

test-parity: $(BUILD)/parity_dump $(BUILD)/train $(BUILD)/generate
	@echo "== tests/parity"; \
	if ! $(PARITY_PYTHON) -c 'import torch' >/dev/null 2>&1; then \
	  echo "test-parity: SKIPPED ($(PARITY_PYTHON) cannot import torch; Debian: apt-get install python3-torch)"; exit 0; fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT INT TERM; status=0; n=0; set --; \
	for v in $(PARITY_VARIANTS); do \
	  if $(BUILD)/parity_dump $$v "$$tmp/$$v"; then set -- "$$@" "$$tmp/$$v"; else status=1; fi; done; \
	for arch in "--heads 6 --kv-heads 2" "--preset gpt2-tiny --heads 4 --kv-heads 4"; do \
	  n=$$((n + 1)); run="$$tmp/run$$n"; \
	  if $(BUILD)/train $$arch $(PARITY_TRAIN) --save "$$run" >"$$tmp/train$$n.out" 2>&1 && \
	     $(BUILD)/generate --checkpoint "$$run" --greedy --prompt "$(PARITY_PROMPT)" --max-new-tokens 40 \
	       >"$$tmp/generate$$n.out" 2>/dev/null; then \
	    set -- "$$@" --generate "$$run" --prompt "$(PARITY_PROMPT)" --tokens 40 --expect "$$tmp/generate$$n.out"; \
	  else echo "FAIL build/train $$arch ... / build/generate --greedy"; tail -3 "$$tmp/train$$n.out"; status=1; fi; \
	done; \
	$(PARITY_PYTHON) tests/parity/parity_torch.py "$$@" || status=1; \
	if [ $$status = 0 ]; then echo "test-parity: passed"; else echo "test-parity: FAILED"; fi; exit $$status
