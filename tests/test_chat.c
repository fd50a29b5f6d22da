/* test_chat.c - chat templates against transformers: the published templates of
   tests/fixtures/chat_templates/NAME.jinja (Qwen2.5, SmolLM2, OpenHermes ChatML, Llama 3 / 3.1 / 3.2,
   Llama-2-chat, Mistral-7B-Instruct, TinyLlama, Gemma 2) are recognised as their format and render
   8 conversations, with and without the generation prompt, to exactly the text of transformers'
   apply_chat_template (renderings.json, made by tests/fixtures/make_chat_fixtures.py on the device
   machine), fail where the template raises, and give apply_chat_template(tokenize=True)'s ids through
   the fixture tokenizers. Then loading from a model directory (tokenizer_config.json in its forms,
   chat_template.jinja, a name given by the caller), templates that must be refused, and hostile
   input. */
#define IRONTENSOR_IMPLEMENTATION
#include "../irontensor.h"
#include "it_test.h"

#include <sys/stat.h>

#define FIX "tests/fixtures/chat_templates/"

static char *read_text(const char *path) {
    size_t n;
    char *s = (char *)it_test_read_file(path, &n);
    if (s) s[n] = 0;
    return s;
}
static const char *jstr(const it__json *j, int v) { return v >= 0 && j->v[v].type == IT__J_STR ? j->v[v].str : NULL; }
static int jat(const it__json *j, int arr, int i) {
    int c = arr >= 0 ? j->v[arr].first : -1;
    while (c >= 0 && i-- > 0) c = j->v[c].next;
    return c;
}

static const struct { const char *name; it_chat_format format; } expected[] = {
    {"chatml_openhermes", IT_CHAT_CHATML}, {"qwen2.5", IT_CHAT_CHATML}, {"smollm2", IT_CHAT_CHATML},
    {"llama3", IT_CHAT_LLAMA3},           {"llama3.1", IT_CHAT_LLAMA3}, {"llama3.2", IT_CHAT_LLAMA3},
    {"llama2", IT_CHAT_LLAMA2},           {"mistral", IT_CHAT_MISTRAL}, {"tinyllama", IT_CHAT_ZEPHYR},
    {"gemma2", IT_CHAT_GEMMA},
};

/* Every case of renderings.json: text, error, ids. */
static void check_renderings(void) {
    it_context *ctx = it_test_context(1);
    size_t n;
    char *text = (char *)it_test_read_file(FIX "renderings.json", &n);
    it__json j;
    it_chat_template tmpl[16];
    it_tokenizer *toks[16];
    int t, c, n_templates = 0, cases = 0, texts = 0, errors = 0, id_lists = 0;
    memset(&j, 0, sizeof j);
    memset(toks, 0, sizeof toks);
    if (!text || it__json_parse(ctx, &j, text, n)) {
        CHECK(0, "cannot read renderings.json: %s", j.err);
        free(text);
        it_context_destroy(ctx);
        return;
    }
    /* the templates: each recognised as its format, with the fixture's bos / eos text */
    for (t = jat(&j, it__jget(&j, 0, "templates"), 0); t >= 0 && n_templates < 16; t = j.v[t].next, n_templates++) {
        const char *name = jstr(&j, it__jget(&j, t, "name")), *bos = jstr(&j, it__jget(&j, t, "bos_token")),
                   *eos = jstr(&j, it__jget(&j, t, "eos_token")), *tok = jstr(&j, it__jget(&j, t, "tokenizer"));
        char path[256], *jinja;
        size_t k;
        it_chat_template *T = &tmpl[n_templates];
        memset(T, 0, sizeof *T);
        snprintf(path, sizeof path, FIX "%s.jinja", name);
        jinja = read_text(path);
        CHECK(jinja && it_chat_template_parse(ctx, jinja, strlen(jinja), T) == IT_OK, "%s: not recognised: %s", name,
              it_context_last_error(ctx));
        for (k = 0; k < sizeof expected / sizeof expected[0]; k++)
            if (strcmp(expected[k].name, name) == 0) {
                CHECK(T->format == expected[k].format, "%s recognised as %s, not %s", name, it_chat_format_name(T->format),
                      it_chat_format_name(expected[k].format));
                CHECK(it_chat_template_detect(jinja) == expected[k].format, "%s: detect disagrees with parse", name);
            }
        snprintf(T->bos_token, sizeof T->bos_token, "%s", bos ? bos : "");
        snprintf(T->eos_token, sizeof T->eos_token, "%s", eos ? eos : "");
        if (strcmp(name, "qwen2.5") == 0)
            CHECK(strcmp(T->default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") == 0,
                  "qwen2.5's default system message: '%s'", T->default_system);
        if (strcmp(name, "chatml_openhermes") == 0) CHECK(T->default_system[0] == 0, "plain ChatML has no default system");
        if (strcmp(name, "llama3.1") == 0) CHECK(T->knowledge_header && strcmp(T->date, "26 Jul 2024") == 0, "llama3.1 date '%s'", T->date);
        if (strcmp(name, "llama3.2") == 0) { /* asks for today's date: the fixture passed date_string */
            CHECK(T->knowledge_header && T->date[0] == 0, "llama3.2 wants today's date, has '%s'", T->date);
            snprintf(T->date, sizeof T->date, "%s", jstr(&j, it__jget(&j, 0, "date_string")));
        }
        if (strcmp(name, "llama3") == 0) CHECK(!T->knowledge_header, "llama3 (3.0) has no knowledge header");
        if (tok) {
            snprintf(path, sizeof path, "tests/fixtures/hf_tokenizers/%s", tok);
            CHECK(it_tokenizer_load_hf(ctx, path, &toks[n_templates]) == IT_OK, "tokenizer %s: %s", tok, it_context_last_error(ctx));
        }
        free(jinja);
    }
    CHECK(n_templates == 10, "%d templates in renderings.json", n_templates);
    /* the cases */
    for (c = jat(&j, it__jget(&j, 0, "cases"), 0); c >= 0; c = j.v[c].next, cases++) {
        const char *name = jstr(&j, it__jget(&j, c, "template")), *want = jstr(&j, it__jget(&j, c, "text"));
        int conv = jat(&j, it__jget(&j, 0, "conversations"), (int)j.v[it__jget(&j, c, "conversation")].i64);
        int gen = j.v[it__jget(&j, c, "add_generation_prompt")].type == IT__J_TRUE, ids_v = it__jget(&j, c, "ids");
        it_chat_message msgs[16];
        int nm = 0, m, ti = -1;
        char out[4096];
        size_t len;
        it_result r;
        for (t = 0; t < n_templates; t++)
            if (strcmp(jstr(&j, it__jget(&j, jat(&j, it__jget(&j, 0, "templates"), t), "name")), name) == 0) ti = t;
        if (ti < 0) continue;
        for (m = j.v[conv].first; m >= 0 && nm < 16; m = j.v[m].next, nm++) {
            msgs[nm].role = jstr(&j, it__jget(&j, m, "role"));
            msgs[nm].content = jstr(&j, it__jget(&j, m, "content"));
        }
        r = it_chat_apply(ctx, &tmpl[ti], msgs, nm, gen, out, sizeof out, &len);
        if (!want) {
            CHECK(r != IT_OK, "%s, conversation %d: transformers raises (%s), we rendered '%s'", name,
                  (int)j.v[it__jget(&j, c, "conversation")].i64, jstr(&j, it__jget(&j, c, "error")), out);
            errors++;
            continue;
        }
        CHECK(r == IT_OK && len == strlen(want) && strcmp(out, want) == 0,
              "%s, conversation %d, generation prompt %d:\n  ours  '%s' (%s)\n  hf's  '%s'", name,
              (int)j.v[it__jget(&j, c, "conversation")].i64, gen, out, r == IT_OK ? "ok" : it_context_last_error(ctx), want);
        texts++;
        if (toks[ti] && ids_v >= 0 && j.v[ids_v].type == IT__J_ARR) { /* the ids apply_chat_template(tokenize=True) gives */
            int32_t *ids = NULL;
            size_t n_ids = 0, k;
            int e, same;
            CHECK(it_tokenizer_encode_flags(ctx, toks[ti], (const uint8_t *)out, len, IT_TOKENIZE_NO_SPECIAL, &ids, &n_ids) == IT_OK,
                  "%s: encode", name);
            same = ids && (int)n_ids == j.v[ids_v].n;
            for (k = 0, e = j.v[ids_v].first; same && e >= 0; e = j.v[e].next, k++) same = ids[k] == (int32_t)j.v[e].i64;
            CHECK(same, "%s, conversation %d: ids differ from apply_chat_template(tokenize=True)'s", name,
                  (int)j.v[it__jget(&j, c, "conversation")].i64);
            it_ids_free(ctx, ids);
            id_lists++;
        }
    }
    CHECK(cases == 160 && texts > 120 && errors > 20 && id_lists > 100, "cases %d: %d texts, %d errors, %d id lists", cases,
          texts, errors, id_lists);
    it__json_free(&j);
    free(text);
    it_context_destroy(ctx);
}

/* Renderings of the one-message conversation into a small buffer: snprintf's contract. */
static void check_buffer(void) {
    it_context *ctx = it_test_context(1);
    it_chat_template T;
    it_chat_message m = {"user", "Hello"};
    char small[8];
    size_t len = 0, full;
    memset(&T, 0, sizeof T);
    T.format = IT_CHAT_CHATML;
    CHECK(it_chat_apply(ctx, &T, &m, 1, 1, NULL, 0, &full) == IT_OK && full == strlen("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"),
          "size query: %zu", full);
    memset(small, 'x', sizeof small);
    CHECK(it_chat_apply(ctx, &T, &m, 1, 1, small, sizeof small, &len) == IT_OK && len == full && strcmp(small, "<|im_st") == 0,
          "truncated rendering '%.8s' (len %zu)", small, len);
    /* Llama 3.2 without a date: today's, as strftime("%d %b %Y") writes it */
    {
        char *jinja = read_text(FIX "llama3.2.jinja"), out[1024];
        const char *d;
        CHECK(jinja && it_chat_template_parse(ctx, jinja, strlen(jinja), &T) == IT_OK, "llama3.2");
        CHECK(it_chat_apply(ctx, &T, &m, 1, 1, out, sizeof out, &len) == IT_OK && (d = strstr(out, "Today Date: ")) != NULL &&
                  d[12] >= '0' && d[12] <= '3' && d[14] == ' ' && d[18] == ' ' && d[19] == '2' && d[23] == '\n',
              "today's date in '%s'", out);
        free(jinja);
    }
    it_context_destroy(ctx);
}

/* Templates that carry a known marker but render differently, and text that is no template. */
static void check_refused(void) {
    static const char *const names[] = {FIX "unknown_mistral_nemo.jinja", FIX "unknown_phi3.5.jinja"};
    static const char *const texts[] = {
        "",
        "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        "{{'<|im_start|>' + message['role'] + '<|im_sep|>'}}",                          /* Phi-4 */
        "{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}[INST]",       /* Mistral v7 */
        "{{ ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}", /* Mistral v1 */
        "{% if x %}<<SYS>>{% endif %}{{ '[INST] ' + content + ' [/INST]' }}",              /* Llama 2 without BOS per turn */
        "{{ '[INST] ' + message['content'].strip() + ' [/INST]' }}",                        /* a stripping [INST] variant */
        "<start_of_turn>{% set first_user_prefix = '' %}",                                 /* Gemma 3 */
    };
    it_context *ctx = it_test_context(1);
    it_chat_template T;
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *jinja = read_text(names[i]);
        memset(&T, 0, sizeof T);
        CHECK(jinja && it_chat_template_parse(ctx, jinja, strlen(jinja), &T) == IT_ERR_UNSUPPORTED &&
                  T.format == IT_CHAT_UNKNOWN && strstr(it_context_last_error(ctx), "not recognised") &&
                  strstr(it_context_last_error(ctx), "chatml, llama3"),
              "%s: refused? '%s'", names[i], it_context_last_error(ctx));
        free(jinja);
    }
    for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        CHECK(it_chat_template_detect(texts[i]) == IT_CHAT_UNKNOWN, "text %zu detected as %s", i,
              it_chat_format_name(it_chat_template_detect(texts[i])));
        CHECK(it_chat_template_parse(ctx, texts[i], strlen(texts[i]), &T) == IT_ERR_UNSUPPORTED, "text %zu parsed", i);
    }
    /* a zero byte inside the text is not hidden by strlen */
    CHECK(it_chat_template_parse(ctx, "<|im_start|>\0x", 14, &T) == IT_ERR_UNSUPPORTED, "embedded zero byte accepted");
    CHECK(it_chat_template_detect(NULL) == IT_CHAT_UNKNOWN, "detect(NULL)");
    {
        it_chat_format f;
        CHECK(it_chat_format_parse("gemma", &f) == IT_OK && f == IT_CHAT_GEMMA, "parse gemma");
        CHECK(it_chat_format_parse("Gemma", &f) == IT_ERR_INVALID_ARGUMENT && it_chat_format_parse(NULL, &f) != IT_OK, "parse bad");
        CHECK(strcmp(it_chat_format_name((it_chat_format)99), "unknown") == 0, "name of 99");
    }
    it_context_destroy(ctx);
}

/* Messages the renderers must refuse. */
static void check_hostile_messages(void) {
    it_context *ctx = it_test_context(1);
    it_chat_template T;
    char out[256];
    size_t len;
    it_chat_message tool[2] = {{"user", "hi"}, {"tool", "{}"}}, bad_utf8 = {"user", "\xC3("}, no_content = {"user", NULL},
                    sys_gemma[2] = {{"system", "s"}, {"user", "u"}};
    memset(&T, 0, sizeof T);
    T.format = IT_CHAT_CHATML;
    CHECK(it_chat_apply(ctx, &T, tool, 2, 1, out, sizeof out, &len) == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(ctx), "tool"),
          "tool role: %s", it_context_last_error(ctx));
    CHECK(it_chat_apply(ctx, &T, &bad_utf8, 1, 1, out, sizeof out, &len) == IT_ERR_INVALID_ARGUMENT, "invalid UTF-8");
    CHECK(it_chat_apply(ctx, &T, &no_content, 1, 1, out, sizeof out, &len) == IT_ERR_INVALID_ARGUMENT, "NULL content");
    CHECK(it_chat_apply(ctx, &T, tool, 0, 1, out, sizeof out, &len) == IT_ERR_INVALID_ARGUMENT, "no messages");
    T.format = IT_CHAT_GEMMA;
    CHECK(it_chat_apply(ctx, &T, sys_gemma, 2, 1, out, sizeof out, &len) == IT_ERR_INVALID_ARGUMENT &&
              strstr(it_context_last_error(ctx), "system"), "gemma system: %s", it_context_last_error(ctx));
    T.format = IT_CHAT_UNKNOWN;
    CHECK(it_chat_apply(ctx, &T, sys_gemma, 2, 1, out, sizeof out, &len) == IT_ERR_INVALID_ARGUMENT, "unknown format applied");
    T.format = IT_CHAT_LLAMA3;
    CHECK(strcmp(it_chat_template_end_of_turn(&T), "<|eot_id|>") == 0, "llama3 end of turn");
    T.format = IT_CHAT_ZEPHYR;
    snprintf(T.eos_token, sizeof T.eos_token, "</s>");
    CHECK(strcmp(it_chat_template_end_of_turn(&T), "</s>") == 0, "zephyr end of turn");
    it_context_destroy(ctx);
}

/* it_chat_template_load on a model directory, in every form transformers writes, and broken ones. */
static void write_config(const char *dir, const char *json) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    it_test_write_file(path, json, strlen(json));
}
static void check_load(void) {
    it_context *ctx = it_test_context(1);
    it_chat_template T;
    char dir[256], path[512];
    static const struct { const char *json, *fragment; } bad[] = {
        {"{\"chat_template\": 7}", "neither a string nor a list"},
        {"{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"<|im_start|>\"}]}", "no \"default\""},
        {"{\"chat_template\": [{\"name\": 1}]}", "entries are not all"},
        {"{\"chat_template\": \"<|im_start|>\", \"bos_token\": 5}", "bos_token"},
        {"{\"chat_template\": \"<|im_start|>\", \"eos_token\": {\"content\": []}}", "eos_token"},
        {"{\"chat_template\": \"{{ messages }}\"}", "not recognised"},
        {"{\"chat_template\": \"<|im_start|>\",}", "tokenizer_config.json"},
        {"[\"chat_template\"]", "not an object"},
        {"{\"bos_token\": \"<s>\"}", "has no chat template"},
        {"{\"chat_template\": \"<|im_start|>\", \"bos_token\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
         "longer than"},
    };
    size_t i;
    it_test_tmp_path(dir, sizeof dir, "chat");
    it_test_remove_tree(dir);
    mkdir(dir, 0755);
    /* a string, with AddedToken-style bos / eos */
    write_config(dir, "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\", "
                      "\"chat_template\": \"{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}\"}");
    CHECK(it_chat_template_load(ctx, dir, NULL, &T) == IT_OK && T.format == IT_CHAT_MISTRAL && strcmp(T.bos_token, "<s>") == 0 &&
              strcmp(T.eos_token, "</s>") == 0, "string form: %s", it_context_last_error(ctx));
    /* the list form: "default" is used */
    write_config(dir, "{\"eos_token\": null, \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"<start_of_turn>\"}, "
                      "{\"name\": \"default\", \"template\": \"<|user|><|assistant|>{{ eos_token }}\"}]}");
    CHECK(it_chat_template_load(ctx, dir, NULL, &T) == IT_OK && T.format == IT_CHAT_ZEPHYR && T.eos_token[0] == 0,
          "list form: %s", it_context_last_error(ctx));
    /* a name wins over the text, and needs none */
    write_config(dir, "{\"bos_token\": \"<bos>\"}");
    CHECK(it_chat_template_load(ctx, dir, "gemma", &T) == IT_OK && T.format == IT_CHAT_GEMMA && strcmp(T.bos_token, "<bos>") == 0,
          "by name: %s", it_context_last_error(ctx));
    CHECK(it_chat_template_load(ctx, dir, "vicuna", &T) == IT_ERR_INVALID_ARGUMENT && strstr(it_context_last_error(ctx), "vicuna"),
          "unknown name: %s", it_context_last_error(ctx));
    /* chat_template.jinja beside the config wins over its chat_template */
    write_config(dir, "{\"chat_template\": \"<start_of_turn>\"}");
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    {
        char *q = read_text(FIX "qwen2.5.jinja");
        it_test_write_file(path, q, strlen(q));
        free(q);
    }
    CHECK(it_chat_template_load(ctx, dir, NULL, &T) == IT_OK && T.format == IT_CHAT_CHATML && T.default_system[0],
          "chat_template.jinja: %s", it_context_last_error(ctx));
    remove(path);
    mkdir(path, 0755); /* a directory where the file should be: an error, not ignored */
    CHECK(it_chat_template_load(ctx, dir, NULL, &T) < 0, "chat_template.jinja as a directory");
    rmdir(path);
    /* no tokenizer_config.json at all, no jinja: no template */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    remove(path);
    CHECK(it_chat_template_load(ctx, dir, NULL, &T) == IT_ERR_UNSUPPORTED && strstr(it_context_last_error(ctx), "no chat template"),
          "nothing: %s", it_context_last_error(ctx));
    CHECK(it_chat_template_load(ctx, dir, "chatml", &T) == IT_OK && T.format == IT_CHAT_CHATML, "nothing + name");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_config(dir, bad[i].json);
        CHECK(it_chat_template_load(ctx, dir, NULL, &T) < 0 && strstr(it_context_last_error(ctx), bad[i].fragment),
              "bad config %zu: '%s' (want '%s')", i, it_context_last_error(ctx), bad[i].fragment);
    }
    /* truncated: every prefix of a good config fails cleanly or parses */
    {
        const char *good = "{\"bos_token\": \"<s>\", \"chat_template\": \"<|im_start|>\"}";
        size_t k;
        for (k = 0; k < strlen(good); k++) {
            it_result r;
            snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
            it_test_write_file(path, good, k);
            r = it_chat_template_load(ctx, dir, NULL, &T);
            CHECK(r == IT_ERR_FORMAT, "prefix %zu of the config: %d", k, (int)r);
        }
    }
    CHECK(it_chat_template_load(ctx, "/nonexistent/dir", NULL, &T) == IT_ERR_UNSUPPORTED, "missing directory");
    it_test_remove_tree(dir);
    it_context_destroy(ctx);
}

int main(void) {
    check_renderings();
    check_buffer();
    check_refused();
    check_hostile_messages();
    check_load();
    return it_test_finish();
}
