#!/usr/bin/env bash
# tests/serve_test.sh BUILD - build/serve on 127.0.0.1 against a small random Llama (GQA) with the
# Qwen2-style tokenizer fixture and a ChatML template: the endpoints with curl, batching that does
# not change greedy results, streaming (SSE), stop strings, seeds; hostile requests (malformed
# JSON, wrong field types, oversized bodies and headers, over-long prompts, chunked bodies, a
# missing Content-Length, a garbage request line, slow-loris headers, clients that vanish
# mid-stream, too many connections) each get their 4xx/5xx or a close while the server keeps
# serving; then the official `openai` npm client (tests/serve/openai_test.mjs, installed with
# `npm ci` in tests/serve). Closes with "N passed, N failed".
set -u
B=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pass=0 fail=0 pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
check() { # check NAME COND...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL serve_test: $name"; fi
}
has() { grep -q -- "$2" <<<"$1"; }  # has TEXT PATTERN

model=$work/model
"$B/serve_make_model" "$model" || { echo "FAIL serve_test: cannot make the model"; echo "0 passed, 1 failed"; exit 1; }
cp "$root/tests/fixtures/hf_tokenizers/qwen2/tokenizer.json" "$root/tests/fixtures/hf_tokenizers/qwen2/tokenizer_config.json" "$model/"
cp "$root/tests/fixtures/chat_templates/chatml_openhermes.jinja" "$model/chat_template.jinja"

: >"$work/log" # exists before the background shell opens it (the wait below greps it)
"$B/serve" --model "$model" --port 0 --threads 1 --parallel 4 --timeout 2 --max-body 65536 --max-connections 12 \
    2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.1; done
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/log" | head -1 | cut -d: -f2)
[ -n "$port" ] || { cat "$work/log"; echo "FAIL serve_test: the server did not start"; echo "0 passed, 1 failed"; exit 1; }
url=http://127.0.0.1:$port

# curl -s with the status on the last line
req() { curl -s -m 30 -w '\n%{http_code}' "$@"; }
status() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
raw() { # raw REQUEST-BYTES: what comes back on a plain TCP connection (closed by the server, or after 5 s)
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return
    printf "$1" >&3
    timeout 5 cat <&3
    exec 3<&-
}

# ---- the endpoints
r=$(req "$url/health"); check "health" [ "$(status "$r")" = 200 ]; check "health body" has "$(body "$r")" '"status":"ok"'
r=$(req "$url/v1/models"); check "models" has "$(body "$r")" '"id":"model","object":"model"'
cj='-H Content-Type:application/json'
r=$(req $cj "$url/v1/completions" -d '{"prompt":"Hello world","max_tokens":7,"temperature":0}')
check "completion 200" [ "$(status "$r")" = 200 ]
greedy=$(body "$r")
check "completion usage" has "$greedy" '"usage":{"prompt_tokens":[0-9]*,"completion_tokens":7,"total_tokens":[0-9]*}'
check "completion finish length" has "$greedy" '"finish_reason":"length"'
text=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])' <<<"$greedy")
r=$(req $cj "$url/v1/completions" -d '{"prompt":"Hello world","max_tokens":7,"temperature":0}')
check "greedy repeats" [ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])' <<<"$(body "$r")")" = "$text" ]
# streamed: data lines, [DONE] last, the same text
r=$(curl -sN -m 30 "$url/v1/completions" -d '{"prompt":"Hello world","max_tokens":7,"temperature":0,"stream":true}')
check "stream ends with [DONE]" [ "$(grep -v '^$' <<<"$r" | tail -n1)" = "data: [DONE]" ]
streamed=$(grep '^data: {' <<<"$r" | sed 's/^data: //' | python3 -c 'import json,sys; print("".join(json.loads(l)["choices"][0]["text"] for l in sys.stdin))')
check "streamed text = non-streamed" [ "$streamed" = "$text" ]
# four concurrent requests: each gets what it gets alone (the batcher changes nothing)
for i in 1 2 3 4; do
    req "$url/v1/completions" -d "{\"prompt\":\"prompt number $i\",\"max_tokens\":12,\"temperature\":0}" | sed '$d' >"$work/alone$i"
done
for i in 1 2 3 4; do
    req "$url/v1/completions" -d "{\"prompt\":\"prompt number $i\",\"max_tokens\":12,\"temperature\":0}" | sed '$d' >"$work/together$i" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
for i in 1 2 3 4; do
    a=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])' <"$work/alone$i" 2>/dev/null)
    t=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])' <"$work/together$i" 2>/dev/null)
    check "concurrent request $i equals it alone" [ -n "$a" ] && [ "$a" = "$t" ]
done
# a stop string cuts the text before it, finish stop
stop=${text:2:2}
r=$(req "$url/v1/completions" -d "{\"prompt\":\"Hello world\",\"max_tokens\":7,\"temperature\":0,\"stop\":[$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$stop")]}")
cut=$(python3 -c 'import json,sys; d=json.load(sys.stdin)["choices"][0]; print(d["finish_reason"], d["text"])' <<<"$(body "$r")")
check "stop string: finish stop, text cut before it" [ "$cut" = "stop ${text%%"$stop"*}" ]
# chat with n and a seed: three choices, reproducible
chat='{"messages":[{"role":"user","content":"Hi there"}],"max_tokens":5,"n":3,"seed":9,"temperature":1}'
r1=$(req "$url/v1/chat/completions" -d "$chat"); r2=$(req "$url/v1/chat/completions" -d "$chat")
check "chat n=3" has "$(body "$r1")" '"index":2,"message":{"role":"assistant"'
check "chat seed repeats" [ "$(body "$r1" | sed 's/"created":[0-9]*//; s/"id":"[^"]*"//')" = "$(body "$r2" | sed 's/"created":[0-9]*//; s/"id":"[^"]*"//')" ]
# token-id prompts
r=$(req "$url/v1/completions" -d '{"prompt":[1,2,3],"max_tokens":2,"temperature":0}')
check "token id prompt" has "$(body "$r")" '"prompt_tokens":3'

# ---- hostile requests: each gets its error, the server goes on
bad() { # bad NAME STATUS PATTERN CURL-ARGS...
    local name=$1 want=$2 pat=$3; shift 3
    local r; r=$(req "$@")
    check "$name: status $want (got $(status "$r"))" [ "$(status "$r")" = "$want" ]
    check "$name: error names it" has "$(body "$r")" "$pat"
}
bad "malformed JSON" 400 '"message":"the body is not a JSON object' "$url/v1/completions" -d '{"prompt": "x",'
bad "not an object" 400 'not a JSON object' "$url/v1/completions" -d '[1,2]'
bad "invalid UTF-8" 400 'invalid UTF-8\|not a JSON object' "$url/v1/completions" --data-binary $'{"prompt":"\xff\xfe"}'
bad "max_tokens a string" 400 '"param":"max_tokens"' "$url/v1/completions" -d '{"prompt":"x","max_tokens":"ten"}'
bad "max_tokens fractional" 400 '"param":"max_tokens"' "$url/v1/completions" -d '{"prompt":"x","max_tokens":2.5}'
bad "temperature a string" 400 '"param":"temperature"' "$url/v1/completions" -d '{"prompt":"x","temperature":"hot"}'
bad "temperature out of range" 400 '"param":"temperature"' "$url/v1/completions" -d '{"prompt":"x","temperature":1e300}'
bad "top_p negative" 400 '"param":"top_p"' "$url/v1/completions" -d '{"prompt":"x","top_p":-1}'
bad "stop a number" 400 '"param":"stop"' "$url/v1/completions" -d '{"prompt":"x","stop":5}'
bad "five stop strings" 400 '"param":"stop"' "$url/v1/completions" -d '{"prompt":"x","stop":["a","b","c","d","e"]}'
bad "n zero" 400 '"param":"n"' "$url/v1/completions" -d '{"prompt":"x","n":0}'
bad "n above parallel" 400 '"param":"n"' "$url/v1/completions" -d '{"prompt":"x","n":100}'
bad "stream a string" 400 '"param":"stream"' "$url/v1/completions" -d '{"prompt":"x","stream":"yes"}'
bad "prompt missing" 400 '"param":"prompt"' "$url/v1/completions" -d '{}'
bad "prompt an object" 400 '"param":"prompt"' "$url/v1/completions" -d '{"prompt":{"a":1}}'
bad "token id outside the vocabulary" 400 '"param":"prompt"' "$url/v1/completions" -d '{"prompt":[1,99999]}'
bad "messages a string" 400 '"param":"messages"' "$url/v1/chat/completions" -d '{"messages":"hi"}'
bad "message without role" 400 '"param":"messages"' "$url/v1/chat/completions" -d '{"messages":[{"content":"hi"}]}'
bad "unknown role" 400 '"param":"messages"' "$url/v1/chat/completions" -d '{"messages":[{"role":"wizard","content":"hi"}]}'
bad "logprobs unsupported" 400 '"code":"unsupported"' "$url/v1/completions" -d '{"prompt":"x","logprobs":true}'
bad "presence penalty unsupported" 400 '"code":"unsupported"' "$url/v1/chat/completions" -d '{"messages":[{"role":"user","content":"x"}],"presence_penalty":0.5}'
long=$(python3 -c 'print("[" + ",".join(["5"] * 300) + "]")')
bad "prompt longer than the context" 400 '"code":"context_length_exceeded"' "$url/v1/completions" -d "{\"prompt\":$long}"
python3 -c 'print("{\"prompt\":\"" + "a" * 100000 + "\"}")' >"$work/big.json"
bad "body over --max-body" 413 'at most 65536' "$url/v1/completions" --data-binary @"$work/big.json"
bad "unknown endpoint" 404 'no such endpoint' "$url/v2/nothing"
bad "wrong method" 405 'not allowed' "$url/v1/completions"
bad "chunked body" 501 'Transfer-Encoding' "$url/v1/completions" -H 'Transfer-Encoding: chunked' -d '{"prompt":"x"}'
r=$(raw 'POST /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n'); check "POST without Content-Length: 411" has "$r" '^HTTP/1.1 411'
r=$(raw 'HELLO\r\n\r\n'); check "garbage request line: 400" has "$r" '^HTTP/1.1 400'
r=$(raw 'GET /health HTTP/2.0\r\n\r\n'); check "unknown HTTP version: 400" has "$r" '^HTTP/1.1 400'
r=$(raw 'POST /v1/completions HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n'); check "bad Content-Length: 400" has "$r" '^HTTP/1.1 400'
r=$(raw 'POST /v1/completions HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n'); check "huge Content-Length: 413" has "$r" '^HTTP/1.1 413'
hdr=$(python3 -c 'print("X-Filler: " + "y" * 20000)')
r=$(raw "GET /health HTTP/1.1\r\n$hdr\r\n\r\n"); check "20 KB of headers: 431" has "$r" '^HTTP/1.1 431'
# keep-alive: two requests on one connection, both answered
r=$(raw 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
check "keep-alive: two answers on one connection" [ "$(grep -c '^HTTP/1.1 200' <<<"$r")" = 2 ]
# slow loris: headers that never finish get 408 after --timeout (2 s) while others are served
exec 4<>"/dev/tcp/127.0.0.1/$port"; printf 'GET /health HTTP/1.1\r\nX-Slow: ' >&4
r=$(req "$url/health"); check "served during a slow-loris connection" [ "$(status "$r")" = 200 ]
r=$(timeout 6 cat <&4); exec 4<&-
check "slow loris: 408 and a close" has "$r" '^HTTP/1.1 408'
# a client that vanishes mid-stream: its samples are cancelled, the server keeps serving
curl -sN -m 0.5 "$url/v1/completions" -d '{"prompt":"Hello","max_tokens":200,"temperature":0,"stream":true}' >/dev/null 2>&1
curl -s -m 0.3 "$url/v1/completions" -d '{"prompt":"Hello","max_tokens":200,"temperature":0}' >/dev/null 2>&1
r=$(req "$url/v1/completions" -d '{"prompt":"Hello world","max_tokens":7,"temperature":0}')
check "served after clients left mid-answer" [ "$(status "$r")" = 200 ] && [ "$(body "$r" | sed 's/"created":[0-9]*//; s/"id":"[^"]*"//')" = "$(sed 's/"created":[0-9]*//; s/"id":"[^"]*"//' <<<"$greedy")" ]
# too many connections: past --max-connections (12) a 503
for i in $(seq 5 16); do eval "exec $i<>/dev/tcp/127.0.0.1/$port"; done
r=$(raw 'GET /health HTTP/1.1\r\n\r\n'); check "past --max-connections: 503" has "$r" '^HTTP/1.1 503'
for i in $(seq 5 16); do eval "exec $i<&-"; done
sleep 0.2
r=$(req "$url/health"); check "served once the idle connections are gone" [ "$(status "$r")" = 200 ]
check "the server is still running" kill -0 "$pid"

# ---- more servers: generation_config.json's EOS ids and defaults, --context-shift
start() { # start DIR LOG FLAGS...: sets spid and sport
    local dir=$1 log=$2; shift 2
    : >"$log"
    "$B/serve" --model "$dir" --port 0 --threads 1 "$@" 2>"$log" &
    spid=$!
    for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
    sport=$(grep -o '127\.0\.0\.1:[0-9]*' "$log" | head -1 | cut -d: -f2)
}
ld=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"]["vocab"].get("ld", -1))' "$model/tokenizer.json")
cp -r "$model" "$work/model_gc"
printf '{"eos_token_id": [%s, 99999], "do_sample": false}\n' "$ld" >"$work/model_gc/generation_config.json"
start "$work/model_gc" "$work/log_gc"
r=$(req "http://127.0.0.1:$sport/v1/completions" -d '{"prompt":"Hello world","max_tokens":7}')
check "generation_config eos id ends the greedy run at once" has "$(body "$r")" '"text":"","logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":[0-9]*,"completion_tokens":1,'
check "generation_config id outside the vocabulary: a warning" grep -q "eos_token_id 99999 .* not used" "$work/log_gc"
kill "$spid"; wait "$spid" 2>/dev/null
start "$model" "$work/log_shift" --ctx 24 --context-shift
r=$(req "http://127.0.0.1:$sport/v1/completions" -d '{"prompt":"prompt number 1","max_tokens":40,"temperature":0}')
check "--context-shift: 40 tokens past a 24-token context" has "$(body "$r")" '"finish_reason":"length"}],"usage":{"prompt_tokens":[0-9]*,"completion_tokens":40,'
kill "$spid"; wait "$spid" 2>/dev/null
start "$model" "$work/log_noshift" --ctx 24
r=$(req "http://127.0.0.1:$sport/v1/completions" -d '{"prompt":"prompt number 1","max_tokens":40,"temperature":0}')
n_tok=$(body "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["usage"]["prompt_tokens"] + d["usage"]["completion_tokens"])')
check "without --context-shift: the context's 24 positions and one more token, finish length" [ "$n_tok" = 25 ]
kill "$spid"; wait "$spid" 2>/dev/null

# ---- the official OpenAI client
if command -v node >/dev/null; then
    if [ ! -d "$root/tests/serve/node_modules/openai" ] && command -v npm >/dev/null; then
        (cd "$root/tests/serve" && npm ci --no-audit --no-fund >/dev/null 2>&1)
    fi
    if [ -d "$root/tests/serve/node_modules/openai" ]; then
        out=$(node "$root/tests/serve/openai_test.mjs" "$url/v1" 2>&1); echo "$out" | grep -v '^[0-9]* passed' | sed 's/^/  /'
        np=$(tail -n1 <<<"$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
        if [ -n "$np" ]; then pass=$((pass + ${np% *})); fail=$((fail + ${np#* })); else fail=$((fail + 1)); echo "FAIL serve_test: openai_test did not finish"; fi
    else
        fail=$((fail + 1)); echo "FAIL serve_test: the openai package is not installed (cd tests/serve && npm ci)"
    fi
else
    fail=$((fail + 1)); echo "FAIL serve_test: node is not installed (Debian: apt-get install nodejs npm)"
fi

kill -TERM "$pid"; wait "$pid"; code=$?; pid=
check "SIGTERM: a clean exit" [ "$code" = 0 ]
grep -q -i "sanitizer\|runtime error" "$work/log" && { fail=$((fail + 1)); echo "FAIL serve_test: sanitizer report"; cat "$work/log"; }
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
