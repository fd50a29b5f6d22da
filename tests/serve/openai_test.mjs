// openai_test.mjs - build/serve driven by the official `openai` npm package (tests/serve_test.sh
// starts the server and passes its base URL). Prints "N passed, N failed" and exits non-zero on
// any failure.
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 60000 });
let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error("FAIL openai_test: " + what); }
}

async function main() {
  const models = await client.models.list();
  const ids = [];
  for await (const m of models) ids.push(m.id);
  check(ids.length === 1 && typeof ids[0] === "string", "models.list gives the one model: " + JSON.stringify(ids));
  const model = ids[0];

  // completions, greedy: deterministic, usage counted, length finish
  const a = await client.completions.create({ model, prompt: "Hello world", max_tokens: 6, temperature: 0 });
  const b = await client.completions.create({ model, prompt: "Hello world", max_tokens: 6, temperature: 0 });
  check(a.object === "text_completion" && a.choices.length === 1, "a text_completion with one choice");
  check(a.choices[0].text === b.choices[0].text, "greedy completions repeat");
  check(a.choices[0].finish_reason === "length", "finish_reason length: " + a.choices[0].finish_reason);
  check(a.usage.completion_tokens === 6 && a.usage.prompt_tokens > 0 &&
        a.usage.total_tokens === a.usage.prompt_tokens + 6, "usage: " + JSON.stringify(a.usage));

  // chat, non-streamed and streamed: the same greedy text
  const messages = [{ role: "system", content: "You are terse." }, { role: "user", content: "Say hello." }];
  const c = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
  check(c.object === "chat.completion" && c.choices[0].message.role === "assistant", "a chat.completion from the assistant");
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0, stream: true,
                                                        stream_options: { include_usage: true } });
  let text = "", finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta && ch.delta.content) text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  check(chunks >= 3, "several chunks streamed: " + chunks);
  check(text === c.choices[0].message.content, "streamed text equals the non-streamed one: " +
        JSON.stringify(text) + " vs " + JSON.stringify(c.choices[0].message.content));
  check(finish === c.choices[0].finish_reason, "same finish reason streamed");
  check(usage && usage.completion_tokens === c.usage.completion_tokens && usage.prompt_tokens === c.usage.prompt_tokens,
        "usage in the last chunk: " + JSON.stringify(usage));

  // n samples with a seed: reproducible
  const s1 = await client.chat.completions.create({ model, messages, max_tokens: 5, n: 3, seed: 42, temperature: 1 });
  const s2 = await client.chat.completions.create({ model, messages, max_tokens: 5, n: 3, seed: 42, temperature: 1 });
  check(s1.choices.length === 3 && s1.choices.map(x => x.index).join() === "0,1,2", "n = 3 choices");
  check(JSON.stringify(s1.choices.map(x => x.message.content)) === JSON.stringify(s2.choices.map(x => x.message.content)),
        "a seed repeats the samples");

  // concurrent streams are batched and give each the text it gets alone
  const prompts = ["one", "two two", "three three three", "four"];
  const alone = [];
  for (const p of prompts)
    alone.push((await client.completions.create({ model, prompt: p, max_tokens: 10, temperature: 0 })).choices[0].text);
  const together = await Promise.all(prompts.map(async p => {
    const s = await client.completions.create({ model, prompt: p, max_tokens: 10, temperature: 0, stream: true });
    let t = "";
    for await (const chunk of s) t += chunk.choices.length ? chunk.choices[0].text : "";
    return t;
  }));
  check(JSON.stringify(together) === JSON.stringify(alone), "concurrent streams equal the requests alone: " +
        JSON.stringify(together) + " vs " + JSON.stringify(alone));

  // bad requests come back as the client's typed errors
  try {
    await client.chat.completions.create({ model, messages: "hello", max_tokens: 5 });
    check(false, "a bad messages field is refused");
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError && e.status === 400 && /messages/.test(e.message), "400 BadRequestError: " + e.message);
  }
  try {
    await client.completions.create({ model, prompt: Array(400).fill(1), max_tokens: 5 });
    check(false, "an over-long prompt is refused");
  } catch (e) {
    check(e.status === 400 && e.code === "context_length_exceeded", "context_length_exceeded: " + e.code);
  }
}

main().catch(e => { failed++; console.error("FAIL openai_test: " + (e && e.stack || e)); })
  .finally(() => { console.log(`${passed} passed, ${failed} failed`); process.exit(failed ? 1 : 0); });
