/* msl2cuda.c - translates the Metal kernels of shaders/ into CUDA C++ and embeds the result in
   shaders_cuda.h, which irontensor_cuda.h compiles with NVRTC at backend creation.

     cc -std=c99 -O1 -o msl2cuda tools/msl2cuda.c
     ./msl2cuda -o shaders_cuda.h [-cu joined.cu] tools/msl_cuda_prelude.h \
         shaders/it_kernel_args.h shaders/it_reduce.h shaders/[a-z]*.metal

   The first input is the prelude (copied as is); the others are joined in order, as the Metal
   backend joins them (shaders.h), so the #ifndef guards around the .metal files' includes skip
   them. One source of truth: nothing here knows a kernel by name. What the translator rewrites,
   and why a prelude alone cannot:
   - `kernel void f(...)`: becomes `extern "C" __global__ void f(...)`. Parameters with
     [[buffer(n)]] are laid out by n (the host passes arguments in binding order, as setBuffer
     and setBytes do). `device`/`constant` pointers become plain pointers; `constant T &p` is
     passed by value (a kernel parameter lives in constant memory, like Metal's setBytes).
     Attribute parameters ([[thread_position_in_grid]] ...) become locals computed from
     blockIdx/threadIdx, and a hidden last parameter (it__msl_dispatch) tells the kernel whether
     it was a dispatchThreads launch, so the threads past the grid return first and edge groups
     see their real size (see tools/msl_cuda_prelude.h).
   - `threadgroup T name[...]` declarations become `__shared__`; `threadgroup T *` pointers
     (parameters of helpers) become plain pointers. `device`, `thread` disappear; `constant` becomes
     `__constant__` at file scope and `const` elsewhere.
   - `inline` functions at file scope become `__device__ inline`.
   - #line directives keep NVRTC's messages on the .metal lines.
   Refused, with file and line (write a CUDA kernel instead, see irontensor_cuda.h): dynamic
   threadgroup memory ([[threadgroup(n)]]), atomics, textures, samplers, half and half
   simdgroup matrices (not yet mapped), attributes it does not know. bfloat and float / bfloat
   simdgroup matrices are the prelude's (a warp-wide 8x8 type; tools/msl_cuda_prelude.h).
   The generated header also lists every kernel (name, binding sizes, whether it synchronizes the
   group) so the host checks each launch's arguments against the kernel's signature. The output
   is byte-for-byte reproducible (make check-cuda-shaders compares a fresh run with the file). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BINDS 16
#define MAX_KERNELS 512
#define MAX_HELPERS 512

typedef struct {
    char *p;
    size_t n, cap;
} text;
static void put(text *t, const char *s, size_t n) {
    if (t->n + n + 1 > t->cap) {
        size_t cap = (t->n + n + 1) * 2;
        char *p = (char *)realloc(t->p, cap);
        if (!p) {
            fprintf(stderr, "msl2cuda: out of memory\n");
            exit(1);
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = 0;
}
static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }
static void putf(text *t, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    puts_(t, buf);
}

typedef struct {
    char name[128];
    char file[256];
    int line, n_binds, collectives;
    unsigned writes; /* bit i: binding i is a pointer to memory the kernel may write */
    char value_type[MAX_BINDS][128]; /* "" = a pointer binding */
} kernel_info;
static kernel_info kernels[MAX_KERNELS];
static int n_kernels;
static char helpers[MAX_HELPERS][128]; /* inline functions that synchronize the group */
static int n_helpers;

static const char *cur_file;
static int failed;
static void fail_at(int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: msl2cuda: error: ", cur_file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failed = 1;
}

static int is_id0(int c) { return isalpha(c) || c == '_'; }
static int is_id(int c) { return isalnum(c) || c == '_'; }
/* skips a comment or literal at s[i]; returns the index after it (i when there is none) */
static size_t skip_comment_or_literal(const char *s, size_t i, size_t n) {
    if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
        while (i < n && s[i] != '\n') i++;
        return i;
    }
    if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
        i += 2;
        while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) i++;
        return i + 2 < n ? i + 2 : n;
    }
    if (s[i] == '"' || s[i] == '\'') {
        char q = s[i++];
        while (i < n && s[i] != q) i += s[i] == '\\' ? 2 : 1;
        return i < n ? i + 1 : n;
    }
    return i;
}
/* index after the bracket matching the one at s[i] ( '(' or '{' ), skipping comments and literals */
static size_t match(const char *s, size_t i, size_t n) {
    char open = s[i], close = open == '(' ? ')' : open == '{' ? '}' : ']';
    int depth = 0;
    while (i < n) {
        size_t j = skip_comment_or_literal(s, i, n);
        if (j != i) {
            i = j;
            continue;
        }
        if (s[i] == open) depth++;
        else if (s[i] == close && --depth == 0) return i + 1;
        i++;
    }
    return n;
}
static size_t skip_space(const char *s, size_t i, size_t n) {
    for (;;) {
        size_t j;
        while (i < n && isspace((unsigned char)s[i])) i++;
        j = skip_comment_or_literal(s, i, n);
        if (j == i || s[i] == '"' || s[i] == '\'') return i;
        i = j;
    }
}
static int line_of(const char *s, size_t i) {
    int line = 1;
    size_t k;
    for (k = 0; k < i; k++) line += s[k] == '\n';
    return line;
}
static int word_at(const char *s, size_t i, size_t n, const char *w) {
    size_t l = strlen(w);
    return i + l <= n && !strncmp(s + i, w, l) && (i + l == n || !is_id(s[i + l])) && (i == 0 || !is_id(s[i - 1]));
}

/* does s[a, b) call something that synchronizes the group? */
static int synchronizes(const char *s, size_t a, size_t b) {
    size_t i = a;
    while (i < b) {
        size_t j = skip_comment_or_literal(s, i, b);
        if (j != i) {
            i = j;
            continue;
        }
        if (is_id0(s[i]) && (i == 0 || !is_id(s[i - 1]))) {
            size_t e = i;
            int h;
            while (e < b && is_id(s[e])) e++;
            if ((e - i > 5 && !strncmp(s + i, "simd_", 5)) || (e - i == 19 && !strncmp(s + i, "threadgroup_barrier", 19)) ||
                (e - i == 17 && !strncmp(s + i, "simdgroup_barrier", 17)) || (e - i == 14 && !strncmp(s + i, "simdgroup_load", 14)) ||
                (e - i == 15 && !strncmp(s + i, "simdgroup_store", 15)) || (e - i > 18 && !strncmp(s + i, "simdgroup_multiply", 18)))
                return 1;
            for (h = 0; h < n_helpers; h++)
                if (strlen(helpers[h]) == e - i && !strncmp(helpers[h], s + i, e - i)) return 1;
            i = e;
            continue;
        }
        i++;
    }
    return 0;
}

/* words refused anywhere (prefix match when the entry ends in '*') */
static const char *const refused[] = {"atomic*", "memory_order*", "texture1d*", "texture2d*", "texture3d*", "sampler",
                                      "simdgroup_half8x8", "half", "imageblock*",
                                      "threadgroup_imageblock", "ray_data", "visible_function_table",
                                      "intersection_function_table"};
static const char *refused_word(const char *s, size_t len) {
    size_t k;
    for (k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        size_t l = strlen(refused[k]);
        if (refused[k][l - 1] == '*' ? (len >= l - 1 && !strncmp(s, refused[k], l - 1)) : (len == l && !strncmp(s, refused[k], l)))
            return refused[k];
    }
    return NULL;
}

/* trims s[a, b) of spaces and comments into out */
static void clean_param(const char *s, size_t a, size_t b, char *out, size_t cap) {
    size_t o = 0, i = a;
    int space = 0;
    while (i < b && o + 2 < cap) {
        size_t j = skip_comment_or_literal(s, i, b);
        if (j != i) {
            i = j;
            space = 1;
            continue;
        }
        if (isspace((unsigned char)s[i])) {
            space = 1;
            i++;
            continue;
        }
        if (space && o) out[o++] = ' ';
        space = 0;
        out[o++] = s[i++];
    }
    out[o] = 0;
}

typedef struct {
    int index; /* buffer(n); -1 for an attribute */
    char decl[640];
    char attr[64];
    char type[128], name[64];
    int by_value, writes;
} param;

/* pp->decl = a type b name [= init;] (copies first: the parts live in pp) */
static void set_decl(param *pp, const char *a, const char *type, const char *b, const char *name, const char *init) {
    char t[128], nm[64];
    snprintf(t, sizeof t, "%s", type);
    snprintf(nm, sizeof nm, "%s", name);
    if (init[0]) snprintf(pp->decl, sizeof pp->decl, "%s%s%s%s = %s;", a, t, b, nm, init);
    else snprintf(pp->decl, sizeof pp->decl, "%s%s%s%s", a, t, b, nm);
}
/* the attribute locals: what each builtin is in CUDA terms (scalar form, vector form) */
static int attribute_expr(const char *attr, const char *type, char *out, size_t cap) {
    static const struct { const char *attr, *vec; } map[] = {
        {"thread_position_in_grid", "it__msl_thread_position()"},
        {"threadgroup_position_in_grid", "it__msl_uint3(blockIdx.x, blockIdx.y, blockIdx.z)"},
        {"thread_position_in_threadgroup", "it__msl_uint3(threadIdx.x, threadIdx.y, threadIdx.z)"},
        {"threads_per_threadgroup", "it__msl_group_size(it__d)"},
        {"threadgroups_per_grid", "it__msl_uint3(gridDim.x, gridDim.y, gridDim.z)"},
        {"thread_index_in_threadgroup", NULL},
        {"thread_index_in_simdgroup", NULL},
        {"simdgroup_index_in_threadgroup", NULL},
        {"simdgroups_per_threadgroup", NULL},
        {"threads_per_simdgroup", NULL},
    };
    static const char *const scalar[] = {"it__msl_thread_index(it__d)", "(it__msl_linear_tid() & 31u)",
                                         "(it__msl_linear_tid() >> 5)", "((it__msl_group_threads(it__d) + 31u) / 32u)", "32u"};
    size_t k;
    int vec = !strcmp(type, "uint2") || !strcmp(type, "uint3") || !strcmp(type, "ushort2") || !strcmp(type, "ushort3");
    if (strcmp(type, "uint") && strcmp(type, "ushort") && strcmp(type, "uint2") && strcmp(type, "uint3")) return -1;
    for (k = 0; k < sizeof map / sizeof map[0]; k++)
        if (!strcmp(map[k].attr, attr)) {
            if (!map[k].vec) {
                if (vec) return -1;
                snprintf(out, cap, "(%s)%s", type, scalar[k - 5]);
            } else if (!strcmp(type, "uint3")) {
                snprintf(out, cap, "%s", map[k].vec);
            } else if (!strcmp(type, "uint2")) {
                snprintf(out, cap, "it__msl_uint2(%s.x, %s.y)", map[k].vec, map[k].vec);
            } else {
                snprintf(out, cap, "(%s)%s.x", type, map[k].vec);
            }
            return 0;
        }
    return -2;
}

/* kernel void NAME(PARAMS) {  at s[i] ("kernel"); writes the CUDA signature and locals and
   returns the index after '{' */
static size_t translate_kernel(const char *s, size_t i, size_t n, text *out) {
    size_t j = skip_space(s, i + 6, n), a, b, body_end, k, pstart;
    int line = line_of(s, i), np = 0, p, q;
    param ps[MAX_BINDS * 2];
    kernel_info *ki;
    char name[128];
    if (!word_at(s, j, n, "void")) {
        fail_at(line, "kernel must return void");
        return j;
    }
    j = skip_space(s, j + 4, n);
    for (k = 0; j < n && is_id(s[j]) && k + 1 < sizeof name; j++) name[k++] = s[j];
    name[k] = 0;
    j = skip_space(s, j, n);
    if (!k || s[j] != '(') {
        fail_at(line, "cannot parse the kernel signature");
        return j;
    }
    a = j + 1;
    b = match(s, j, n) - 1; /* the ')' */
    j = skip_space(s, b + 1, n);
    if (j >= n || s[j] != '{') {
        fail_at(line, "kernel %s: expected '{' after the parameters", name);
        return j;
    }
    body_end = match(s, j, n);
    if (n_kernels == MAX_KERNELS) {
        fail_at(line, "too many kernels");
        return j + 1;
    }
    /* split the parameters at top-level commas */
    for (pstart = a, k = a; k <= b; k++) {
        size_t m = skip_comment_or_literal(s, k, b);
        if (m != k) {
            k = m - 1;
            continue;
        }
        if (k < b && (s[k] == '(' || s[k] == '[')) {
            k = match(s, k, b) - 1;
            continue;
        }
        if (k == b || s[k] == ',') {
            char raw[512], *at, *e, attr[64];
            param *pp;
            int num = -1;
            clean_param(s, pstart, k, raw, sizeof raw);
            pstart = k + 1;
            if (!raw[0]) continue;
            if (np == MAX_BINDS * 2) {
                fail_at(line, "kernel %s: too many parameters", name);
                return body_end;
            }
            pp = &ps[np++];
            memset(pp, 0, sizeof *pp);
            pp->index = -1;
            for (q = 0; raw[q]; q++) /* refused types in a parameter */
                if (is_id0(raw[q]) && (q == 0 || !is_id(raw[q - 1]))) {
                    int e2 = q;
                    const char *bad;
                    while (is_id(raw[e2])) e2++;
                    if ((bad = refused_word(raw + q, (size_t)(e2 - q))) != NULL)
                        fail_at(line, "kernel %s: '%.*s' is not translated to CUDA (%s); write a CUDA kernel for it", name,
                                e2 - q, raw + q, bad);
                    q = e2 - 1;
                }
            at = strstr(raw, "[[");
            if (!at) {
                fail_at(line, "kernel %s: parameter '%s' has no [[attribute]]", name, raw);
                continue;
            }
            e = at + 2;
            while (*e == ' ') e++;
            for (q = 0; is_id(*e) && q + 1 < (int)sizeof attr; e++) attr[q++] = *e;
            attr[q] = 0;
            while (*e == ' ') e++;
            if (*e == '(') num = atoi(e + 1);
            *at = 0;
            while (at > raw && at[-1] == ' ') *--at = 0;
            snprintf(pp->attr, sizeof pp->attr, "%s", attr);
            /* type and name: the last word is the name */
            {
                char *d = raw, *last;
                while (!strncmp(d, "device ", 7) || !strncmp(d, "constant ", 9) || !strncmp(d, "thread ", 7))
                    d = strchr(d, ' ') + 1;
                if (!strncmp(d, "threadgroup ", 12)) {
                    fail_at(line, "kernel %s: threadgroup memory as a parameter ([[threadgroup(n)]]) is not translated; "
                            "declare it inside the kernel or write a CUDA kernel", name);
                    continue;
                }
                last = d + strlen(d);
                while (last > d && is_id(last[-1])) last--;
                snprintf(pp->name, sizeof pp->name, "%s", last);
                snprintf(pp->type, sizeof pp->type, "%.*s", (int)(last - d), d);
                q = (int)strlen(pp->type);
                while (q > 0 && pp->type[q - 1] == ' ') pp->type[--q] = 0;
            }
            if (!strcmp(attr, "buffer")) {
                int tl = (int)strlen(pp->type);
                pp->index = num;
                if (num < 0 || num >= MAX_BINDS) fail_at(line, "kernel %s: buffer index out of range in '%s'", name, raw);
                if (tl && pp->type[tl - 1] == '&') { /* constant T &p: by value */
                    pp->type[--tl] = 0;
                    while (tl > 0 && pp->type[tl - 1] == ' ') pp->type[--tl] = 0;
                    if (!strncmp(pp->type, "const ", 6)) memmove(pp->type, pp->type + 6, strlen(pp->type + 6) + 1);
                    pp->by_value = 1;
                    set_decl(pp, "const ", pp->type, " ", pp->name, "");
                } else if (tl && pp->type[tl - 1] == '*') {
                    set_decl(pp, "", pp->type, "", pp->name, "");
                    pp->writes = strncmp(pp->type, "const ", 6) != 0 && !strstr(pp->type, " const ");
                } else {
                    fail_at(line, "kernel %s: [[buffer]] parameter '%s' is neither a pointer nor a reference", name, raw);
                }
            } else {
                char expr[256];
                int r = attribute_expr(attr, pp->type, expr, sizeof expr);
                pp->index = -1;
                if (r == -2) fail_at(line, "kernel %s: attribute [[%s]] is not translated", name, attr);
                else if (r == -1) fail_at(line, "kernel %s: [[%s]] declared as '%s' is not translated", name, attr, pp->type);
                else set_decl(pp, "const ", pp->type, " ", pp->name, expr);
            }
        }
    }
    ki = &kernels[n_kernels++];
    memset(ki, 0, sizeof *ki);
    snprintf(ki->name, sizeof ki->name, "%s", name);
    snprintf(ki->file, sizeof ki->file, "%s", cur_file);
    ki->line = line;
    ki->collectives = synchronizes(s, j, body_end);
    for (p = 0; p < np; p++)
        if (ps[p].index >= 0 && ps[p].index + 1 > ki->n_binds) ki->n_binds = ps[p].index + 1;
    putf(out, "extern \"C\" __global__ void %s(", name);
    for (q = 0; q < ki->n_binds; q++) {
        int found = 0;
        for (p = 0; p < np; p++)
            if (ps[p].index == q) {
                if (found++) fail_at(line, "kernel %s: two parameters bound at buffer(%d)", name, q);
                else putf(out, "%s, ", ps[p].decl);
                if (ps[p].by_value) snprintf(ki->value_type[q], sizeof ki->value_type[q], "%s", ps[p].type);
                if (ps[p].writes) ki->writes |= 1u << q;
            }
        if (!found) fail_at(line, "kernel %s: no parameter at buffer(%d) (bindings must be 0..n-1)", name, q);
    }
    puts_(out, "const it__msl_dispatch it__d) { if (it__msl_outside_grid(it__d)) return; ");
    if (ki->collectives) puts_(out, "if (it__msl_edge_group(it__d)) __trap(); ");
    for (p = 0; p < np; p++)
        if (ps[p].index < 0) putf(out, "%s ", ps[p].decl);
    putf(out, "\n#line %d \"%s\"\n", line_of(s, j), cur_file);
    return j + 1;
}

/* one file: appends its CUDA text */
static void translate(const char *s, size_t n, text *out) {
    size_t i = 0;
    int depth = 0, paren = 0, bol = 1;
    putf(out, "#line 1 \"%s\"\n", cur_file);
    while (i < n) {
        size_t j = skip_comment_or_literal(s, i, n);
        char c = s[i];
        if (j != i) {
            put(out, s + i, j - i);
            i = j;
            bol = 0;
            continue;
        }
        if (bol && c == '#') { /* a directive: the whole line, continuations included */
            size_t e = i;
            while (e < n && s[e] != '\n') e += (s[e] == '\\' && e + 1 < n) ? 2 : 1;
            if (strstr(s + i, "<metal_stdlib>") && strstr(s + i, "<metal_stdlib>") < s + e)
                puts_(out, "/* #include <metal_stdlib>: tools/msl_cuda_prelude.h */");
            else
                put(out, s + i, e - i);
            i = e;
            continue;
        }
        if (c == '\n') bol = 1;
        else if (!isspace((unsigned char)c)) bol = 0;
        if (is_id0(c) && (i == 0 || !is_id(s[i - 1]))) {
            size_t e = i;
            const char *bad;
            while (e < n && is_id(s[e])) e++;
            if ((bad = refused_word(s + i, e - i)) != NULL) {
                fail_at(line_of(s, i), "'%.*s' is not translated to CUDA (%s); write a CUDA kernel for it", (int)(e - i), s + i,
                        bad);
            } else if (depth == 0 && word_at(s, i, n, "kernel")) {
                i = translate_kernel(s, i, n, out);
                depth = 1;
                continue;
            } else if (depth == 0 && word_at(s, i, n, "inline")) {
                /* a helper: note whether it synchronizes the group (kernels calling it then do) */
                size_t k = i, brace;
                while (k < n && s[k] != '(' && s[k] != ';') k++;
                if (k < n && s[k] == '(') {
                    size_t nm = k;
                    while (nm > i && isspace((unsigned char)s[nm - 1])) nm--;
                    brace = match(s, k, n);
                    brace = skip_space(s, brace, n);
                    if (brace < n && s[brace] == '{') {
                        size_t st = nm;
                        while (st > i && is_id(s[st - 1])) st--;
                        if (synchronizes(s, brace, match(s, brace, n)) && n_helpers < MAX_HELPERS)
                            snprintf(helpers[n_helpers++], sizeof helpers[0], "%.*s", (int)(nm - st), s + st);
                    }
                }
                puts_(out, "__device__ inline");
            } else if (word_at(s, i, n, "threadgroup")) {
                /* an array or variable declaration (shared memory) or a pointer type (plain pointer) */
                size_t k = e;
                int decl = 0;
                while (k < n) {
                    k = skip_space(s, k, n);
                    if (k >= n) break;
                    if (s[k] == '[' || s[k] == ';' || s[k] == '=') {
                        decl = 1;
                        break;
                    }
                    if (s[k] == '*' || s[k] == '&' || s[k] == '(' || s[k] == ')' || s[k] == ',') break;
                    k++;
                }
                if (decl) puts_(out, "__shared__");
            } else if (word_at(s, i, n, "device") || word_at(s, i, n, "thread")) {
                /* address spaces: CUDA pointers are generic */
            } else if (word_at(s, i, n, "constant")) {
                /* read-only memory: __constant__ at file scope, const elsewhere (a helper's
                   `constant T &p` receives the kernel's by-value argument) */
                int has_const = word_at(s, skip_space(s, e, n), n, "const");
                if (depth == 0 && paren == 0) puts_(out, "__constant__");
                else if (!has_const) puts_(out, "const");
            } else {
                put(out, s + i, e - i);
            }
            i = e;
            continue;
        }
        if (c == '{') depth++;
        else if (c == '}') depth--;
        else if (c == '(') paren++;
        else if (c == ')') paren--;
        put(out, s + i, 1);
        i++;
    }
    if (out->n && out->p[out->n - 1] != '\n') puts_(out, "\n");
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    long l;
    char *b;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (l = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    b = (char *)malloc((size_t)l + 1);
    if (!b || fread(b, 1, (size_t)l, f) != (size_t)l) {
        free(b);
        fclose(f);
        return NULL;
    }
    b[l] = 0;
    *len = (size_t)l;
    fclose(f);
    return b;
}
/* the source as C string literals, one per line (newline included), like shaders.h */
static void emit_lines(FILE *f, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        fputs("    \"", f);
        while (i < n && s[i] != '\n') {
            unsigned char c = (unsigned char)s[i++];
            if (c == '\\' || c == '"') fprintf(f, "\\%c", c);
            else if (c == '?') fputs("\\?", f);
            else if (c == '\t') fputs("\\t", f);
            else if (c < 32 || c >= 127) fprintf(f, "\\%03o", c);
            else fputc(c, f);
        }
        if (i < n) {
            fputs("\\n", f);
            i++;
        }
        fputs("\",\n", f);
    }
}

int main(int argc, char **argv) {
    const char *out_path = NULL, *cu_path = NULL, *inputs[256];
    int n_in = 0, i, k;
    text src = {NULL, 0, 0};
    FILE *f;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "-cu") && i + 1 < argc) cu_path = argv[++i];
        else if (n_in < 256) inputs[n_in++] = argv[i];
    }
    if (!out_path || n_in < 2) {
        fprintf(stderr, "usage: msl2cuda -o shaders_cuda.h [-cu out.cu] prelude.h shared-headers... files.metal...\n");
        return 2;
    }
    for (i = 0; i < n_in; i++) {
        size_t len;
        char *s = slurp(inputs[i], &len);
        if (!s) {
            fprintf(stderr, "msl2cuda: cannot read %s\n", inputs[i]);
            return 1;
        }
        cur_file = inputs[i];
        if (i == 0) {
            putf(&src, "#line 1 \"%s\"\n", inputs[i]);
            put(&src, s, len);
        } else {
            translate(s, len, &src);
        }
        free(s);
    }
    if (failed) return 1;
    if (cu_path) {
        f = fopen(cu_path, "wb");
        if (!f || fwrite(src.p, 1, src.n, f) != src.n || fclose(f) != 0) {
            fprintf(stderr, "msl2cuda: cannot write %s\n", cu_path);
            return 1;
        }
    }
    f = fopen(out_path, "wb");
    if (!f) {
        fprintf(stderr, "msl2cuda: cannot write %s\n", out_path);
        return 1;
    }
    fputs("/* shaders_cuda.h - GENERATED by tools/msl2cuda.c from", f);
    for (i = 0; i < n_in; i++) fprintf(f, " %s", inputs[i]);
    fputs("; do not edit (make shaders). */\n", f);
    fputs("/* it_cuda_source: the kernels as CUDA C++, one string per line, for NVRTC. it_cuda_kernels: every\n"
          "   kernel's bindings in order; value_size[i] is the size of a by-value argument (constant T &p in\n"
          "   MSL), 0 for a pointer; collectives = 1 when it synchronizes the group (barriers, simd_*);\n"
          "   writes: the bindings it may write (pointers not to const).\n"
          "   Needs shaders/it_kernel_args.h first (the sizes are its structs'). */\n"
          "#ifndef IT_SHADERS_CUDA_H\n#define IT_SHADERS_CUDA_H\n\n"
          "#if defined(__GNUC__) || defined(__clang__)\n#define IT_SHADERS_CUDA_UNUSED __attribute__((unused))\n"
          "#else\n#define IT_SHADERS_CUDA_UNUSED\n#endif\n\n",
          f);
    fputs("static const char *const it_cuda_source[] IT_SHADERS_CUDA_UNUSED = {\n", f);
    emit_lines(f, src.p, src.n);
    fputs("};\n", f);
    fprintf(f, "#define IT_CUDA_SOURCE_SIZE %luUL /* bytes of the joined lines */\n\n", (unsigned long)src.n);
    fprintf(f, "#define IT_CUDA_MAX_BINDS %d\n", MAX_BINDS);
    fputs("typedef struct it_cuda_kernel_info {\n"
          "    const char *name;\n"
          "    int n_binds;\n"
          "    unsigned long value_size[IT_CUDA_MAX_BINDS];\n"
          "    int collectives;\n"
          "    unsigned writes; /* bit i: binding i points to memory the kernel may write */\n"
          "    const char *where; /* file:line of `kernel void` */\n"
          "} it_cuda_kernel_info;\n\n",
          f);
    fprintf(f, "#define IT_CUDA_KERNEL_COUNT %d\n", n_kernels);
    fputs("static const it_cuda_kernel_info it_cuda_kernels[IT_CUDA_KERNEL_COUNT] IT_SHADERS_CUDA_UNUSED = {\n", f);
    for (k = 0; k < n_kernels; k++) {
        fprintf(f, "    {\"%s\", %d, {", kernels[k].name, kernels[k].n_binds);
        for (i = 0; i < kernels[k].n_binds; i++)
            if (kernels[k].value_type[i][0]) fprintf(f, "%ssizeof(%s)", i ? ", " : "", kernels[k].value_type[i]);
            else fprintf(f, "%s0", i ? ", " : "");
        if (!kernels[k].n_binds) fputs("0", f);
        fprintf(f, "}, %d, 0x%xu, \"%s:%d\"},\n", kernels[k].collectives, kernels[k].writes, kernels[k].file, kernels[k].line);
    }
    fputs("};\n\n#endif /* IT_SHADERS_CUDA_H */\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "msl2cuda: write error on %s\n", out_path);
        remove(out_path);
        return 1;
    }
    free(src.p);
    return 0;
}
