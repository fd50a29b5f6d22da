/* mslprep.c - the pre-pass that lets an unchanged .metal file compile as C++ on the emulator shim.

     mslprep in.metal -o out.cpp      rewrite + append the kernel registry
     mslprep --list in.metal ...      print the kernel names, one a line

   Token-level rewrites (line numbers kept; the output starts with #line so compiler diagnostics,
   sanitizer traces and emulator reports point at the .metal file):
     kernel-scope  threadgroup T name[N]...;   ->  ITEMU_TG_DECL(name, [N]..., T);
     attribute     [[threadgroup(n)]]           ->  [[itemu_tgmem(n)]]
     const constant / constant const            ->  constant
   For every `kernel void name(...)` a registry entry is appended: name, a no-argument trampoline
   and the [[buffer(n)]] / [[threadgroup(n)]] table (index, kind, address space, type, sizeof,
   const, name, line). The address-space mapping, builtins and the rest live in shim/metal_stdlib.

   It also rejects what Apple's compiler rejects or fast math breaks and a C++ compiler would not
   notice: std::, printf, new/delete, malloc, double, goto, INFINITY/NAN/isnan/isinf (fast math
   may fold them away; use -FLT_MAX), and direct recursion. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_WS, T_COMMENT, T_PP, T_STR, T_ID, T_NUM, T_ATTR_OPEN, T_ATTR_CLOSE, T_PUNCT };
typedef struct tok {
    int kind, line;
    const char *s;
    int len;
} tok;

static const char *g_path;
static int g_errors;

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "mslprep: out of memory\n");
        exit(2);
    }
    return p;
}
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    long n;
    char *b;
    if (!f) {
        fprintf(stderr, "mslprep: cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (char *)xrealloc(NULL, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "mslprep: cannot read %s\n", path);
        exit(2);
    }
    b[n] = 0;
    fclose(f);
    return b;
}
static int is(const tok *t, const char *s) { return (int)strlen(s) == t->len && !memcmp(t->s, s, (size_t)t->len); }

static tok *tokenize(const char *src, int *count) {
    tok *v = NULL;
    int n = 0, cap = 0, line = 1, bol = 1;
    const char *p = src;
    while (*p) {
        tok t;
        const char *q = p;
        t.line = line;
        if (isspace((unsigned char)*p)) {
            while (isspace((unsigned char)*q)) q++;
            t.kind = T_WS;
        } else if (p[0] == '/' && p[1] == '/') {
            while (*q && *q != '\n') q++;
            t.kind = T_COMMENT;
        } else if (p[0] == '/' && p[1] == '*') {
            q = strstr(p + 2, "*/");
            q = q ? q + 2 : p + strlen(p);
            t.kind = T_COMMENT;
        } else if (*p == '#' && bol) {
            while (*q && *q != '\n') q += (q[0] == '\\' && q[1] == '\n') ? 2 : 1;
            t.kind = T_PP;
        } else if (*p == '"' || *p == '\'') {
            q++;
            while (*q && *q != *p && *q != '\n') q += (*q == '\\' && q[1]) ? 2 : 1;
            if (*q == *p) q++;
            t.kind = T_STR;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            while (isalnum((unsigned char)*q) || *q == '_') q++;
            t.kind = T_ID;
        } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
            while (isalnum((unsigned char)*q) || *q == '.' || *q == '_' ||
                   ((*q == '+' || *q == '-') && strchr("eEpP", q[-1])))
                q++;
            t.kind = T_NUM;
        } else if (p[0] == '[' && p[1] == '[') {
            q += 2;
            t.kind = T_ATTR_OPEN;
        } else if (p[0] == ']' && p[1] == ']') {
            q += 2;
            t.kind = T_ATTR_CLOSE;
        } else {
            q++;
            t.kind = T_PUNCT;
        }
        t.s = p;
        t.len = (int)(q - p);
        for (; p < q; p++) {
            if (*p == '\n') {
                line++;
                bol = 1;
            } else if (!isspace((unsigned char)*p)) {
                bol = 0;
            }
        }
        if (t.kind == T_PP) bol = 0;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            v = (tok *)xrealloc(v, sizeof(tok) * (size_t)cap);
        }
        v[n++] = t;
    }
    *count = n;
    return v;
}
static int sig(const tok *v, int n, int i) { /* next significant token at or after i */
    while (i < n && (v[i].kind == T_WS || v[i].kind == T_COMMENT)) i++;
    return i;
}
static int sig_back(const tok *v, int i) {
    while (i >= 0 && (v[i].kind == T_WS || v[i].kind == T_COMMENT)) i--;
    return i;
}
static void err(int line, const char *msg, const tok *t) {
    fprintf(stderr, "%s:%d: error: %s", g_path, line, msg);
    if (t) fprintf(stderr, " '%.*s'", t->len, t->s);
    fputc('\n', stderr);
    g_errors++;
}

/* ---- registry model ---- */
typedef struct binding {
    int index, kind, is_const, line;
    char aspace[16], type[128], name[64];
} binding;
typedef struct kernel_info {
    char name[128];
    int line, nb;
    binding b[32];
} kernel_info;

static void param_binding(const tok *v, const int *idx, int m, kernel_info *k) {
    /* idx: significant tokens of one parameter. Only [[buffer(n)]] / [[threadgroup(n)]] count. */
    int a = -1, c = -1, i, j, n, kind;
    binding *b;
    char *ty;
    for (i = 0; i < m; i++) {
        if (v[idx[i]].kind == T_ATTR_OPEN && a < 0) a = i;
        if (v[idx[i]].kind == T_ATTR_CLOSE) c = i;
    }
    if (a < 1 || c < a + 4) return;
    if (is(&v[idx[a + 1]], "buffer")) kind = 0;
    else if (is(&v[idx[a + 1]], "threadgroup") || is(&v[idx[a + 1]], "itemu_tgmem")) kind = 2;
    else return; /* a builtin such as [[thread_position_in_grid]] */
    if (k->nb == 32) {
        err(v[idx[0]].line, "too many bound arguments", NULL);
        return;
    }
    b = &k->b[k->nb++];
    memset(b, 0, sizeof *b);
    n = (int)strtol(v[idx[a + 3]].s, NULL, 0);
    b->index = n;
    b->line = v[idx[a - 1]].line;
    snprintf(b->name, sizeof b->name, "%.*s", v[idx[a - 1]].len, v[idx[a - 1]].s);
    ty = b->type;
    for (j = 0; j < a - 1; j++) {
        const tok *t = &v[idx[j]];
        if (is(t, "device") || is(t, "constant") || is(t, "threadgroup")) {
            snprintf(b->aspace, sizeof b->aspace, "%.*s", t->len, t->s);
            if (is(t, "constant")) b->is_const = 1;
            continue;
        }
        if (is(t, "const")) {
            b->is_const = 1;
            continue;
        }
        if (is(t, "&")) {
            if (kind == 0) kind = 1;
            continue;
        }
        if (is(t, "*") || is(t, "volatile") || is(t, "thread")) continue;
        if (strlen(ty) + (size_t)t->len + 2 < sizeof b->type)
            sprintf(ty + strlen(ty), "%s%.*s", ty[0] && t->kind == T_ID && isalnum((unsigned char)ty[strlen(ty) - 1]) ? " " : "", t->len, t->s);
    }
    b->kind = kind;
}

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int list = 0, i, n, brace = 0, paren = 0, nk = 0, fn_depth_name = 0;
    char *src;
    tok *v;
    FILE *f;
    kernel_info *ks = NULL;
    char candidate[128] = "", current[128] = "";
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--list")) list = 1;
        else if (list) {
            /* handled below, one file at a time */
        } else in = argv[i];
    }
    if (list) {
        for (i = 1; i < argc; i++) {
            int j, m;
            if (!strcmp(argv[i], "--list")) continue;
            src = read_file(argv[i]);
            v = tokenize(src, &m);
            for (j = 0; j < m; j++) {
                int a = sig(v, m, j + 1), b = a < m ? sig(v, m, a + 1) : m;
                if (v[j].kind == T_ID && is(&v[j], "kernel") && a < m && is(&v[a], "void") && b < m)
                    printf("%.*s\n", v[b].len, v[b].s);
            }
            free(v);
            free(src);
        }
        return 0;
    }
    if (!in || !out) {
        fprintf(stderr, "usage: mslprep in.metal -o out.cpp | mslprep --list files...\n");
        return 2;
    }
    g_path = in;
    src = read_file(in);
    v = tokenize(src, &n);
    f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "mslprep: cannot write %s\n", out);
        return 2;
    }
    fprintf(f, "#line 1 \"%s\"\n", in);
    (void)fn_depth_name;
    for (i = 0; i < n; i++) {
        tok *t = &v[i];
        int p = sig_back(v, i - 1), nx = sig(v, n, i + 1);
        if (t->kind == T_WS || t->kind == T_COMMENT || t->kind == T_PP) {
            fwrite(t->s, 1, (size_t)t->len, f);
            continue;
        }
        /* lint */
        if (t->kind == T_ID) {
            static const char *const banned[] = {"printf", "malloc", "free", "new", "delete", "double", "goto",
                                                 "INFINITY", "NAN", "isnan", "isinf", "HUGE_VALF", NULL};
            int b;
            if (is(t, "std") && nx + 1 < n && v[nx].s[0] == ':' && v[nx + 1].s[0] == ':')
                err(t->line, "std:: does not exist in MSL", NULL);
            for (b = 0; banned[b]; b++)
                if (is(t, banned[b]) && !(p >= 0 && (is(&v[p], ".") || is(&v[p], ">")))) {
                    if (!strcmp(banned[b], "free") && !(nx < n && is(&v[nx], "("))) continue;
                    err(t->line, !strcmp(banned[b], "INFINITY") || !strcmp(banned[b], "NAN") || !strcmp(banned[b], "isnan") ||
                                         !strcmp(banned[b], "isinf") || !strcmp(banned[b], "HUGE_VALF")
                                     ? "fast math may fold infinities and NaN checks away; use -FLT_MAX / explicit masks instead of"
                                     : "not available in MSL:",
                        t);
                }
            if (current[0] && brace >= 1 && is(t, current) && nx < n && is(&v[nx], "("))
                err(t->line, "recursion is not allowed in MSL:", t);
            if (brace == 0 && paren == 0 && nx < n && is(&v[nx], "("))
                snprintf(candidate, sizeof candidate, "%.*s", t->len, t->s);
        }
        /* const constant -> constant */
        if (is(t, "const") && ((nx < n && is(&v[nx], "constant")) || (p >= 0 && is(&v[p], "constant")))) continue;
        /* [[threadgroup(n)]] -> [[itemu_tgmem(n)]] */
        if (t->kind == T_ID && is(t, "threadgroup") && p >= 0 && v[p].kind == T_ATTR_OPEN) {
            fputs("itemu_tgmem", f);
            continue;
        }
        /* kernel-scope threadgroup variable */
        if (t->kind == T_ID && is(t, "threadgroup") && brace >= 1 && paren == 0 && p >= 0 &&
            (is(&v[p], "{") || is(&v[p], ";") || is(&v[p], "}"))) {
            int j = i + 1, ptr = 0, bad = 0, cut = -1, nl = 0, last = -1;
            char ty[256] = "", dims[256] = "", name[128] = "";
            for (; j < n && !is(&v[j], ";"); j++) {
                if (v[j].kind == T_WS || v[j].kind == T_COMMENT) {
                    int c;
                    for (c = 0; c < v[j].len; c++) nl += v[j].s[c] == '\n';
                    continue;
                }
                if ((is(&v[j], "*") || is(&v[j], "&")) && cut < 0) ptr = 1; /* not a '*' inside [N] */
                if (is(&v[j], ",") || is(&v[j], "=")) bad = 1;
                if (is(&v[j], "[") && cut < 0) cut = j;
                if (cut < 0) {
                    if (last >= 0) {
                        size_t L = strlen(ty);
                        snprintf(ty + L, sizeof ty - L, "%s%.*s", L ? " " : "", v[last].len, v[last].s);
                    }
                    last = j;
                } else {
                    size_t L = strlen(dims);
                    snprintf(dims + L, sizeof dims - L, "%.*s", v[j].len, v[j].s);
                }
            }
            if (!ptr) {
                if (bad || last < 0) {
                    err(t->line, "unsupported threadgroup declaration (one variable, no initializer)", NULL);
                } else {
                    snprintf(name, sizeof name, "%.*s", v[last].len, v[last].s);
                    fprintf(f, "ITEMU_TG_DECL(%s, %s, %s);", name, dims, ty);
                    while (nl--) fputc('\n', f);
                    i = j;
                    continue;
                }
            }
        }
        /* kernel void name(params) */
        if (t->kind == T_ID && is(t, "kernel") && brace == 0 && nx < n && is(&v[nx], "void")) {
            int a = sig(v, n, nx + 1), b = sig(v, n, a + 1);
            if (b < n && is(&v[b], "(")) {
                int depth = 1, q = b + 1, m = 0, *idx = (int *)xrealloc(NULL, sizeof(int) * (size_t)n);
                kernel_info *k;
                ks = (kernel_info *)xrealloc(ks, sizeof(kernel_info) * (size_t)(nk + 1));
                k = &ks[nk++];
                memset(k, 0, sizeof *k);
                snprintf(k->name, sizeof k->name, "%.*s", v[a].len, v[a].s);
                k->line = t->line;
                for (; q < n && depth; q++) {
                    if (v[q].kind == T_WS || v[q].kind == T_COMMENT) continue;
                    if (is(&v[q], "(") || is(&v[q], "<")) depth++;
                    if (is(&v[q], ")") || is(&v[q], ">")) depth--;
                    if ((is(&v[q], ",") && depth == 1) || depth == 0) {
                        param_binding(v, idx, m, k);
                        m = 0;
                        continue;
                    }
                    idx[m++] = q;
                }
                free(idx);
            }
        }
        if (is(t, "{")) {
            if (brace == 0 && p >= 0 && (is(&v[p], ")") || is(&v[p], "const"))) strcpy(current, candidate);
            brace++;
        } else if (is(t, "}")) {
            brace--;
            if (brace == 0) current[0] = 0;
        } else if (is(t, "(")) paren++;
        else if (is(t, ")")) paren--;
        fwrite(t->s, 1, (size_t)t->len, f);
    }
    fprintf(f, "\n// ---- mslprep: kernel registry ----\n");
    for (i = 0; i < nk; i++) {
        kernel_info *k = &ks[i];
        int j;
        if (k->nb) {
            fprintf(f, "static const itemu_binding itemu_binds_%s[] = {\n", k->name);
            for (j = 0; j < k->nb; j++) {
                binding *b = &k->b[j];
                char size[160];
                if (!strcmp(b->type, "void") || !b->type[0]) strcpy(size, "0");
                else snprintf(size, sizeof size, "sizeof(%s)", b->type);
                fprintf(f, "    {%d, (itemu_bind_kind)%d, \"%s\", \"%s\", %s, %d, \"%s\", %d},\n", b->index, b->kind, b->aspace,
                        b->type, size, b->is_const, b->name, b->line);
            }
            fprintf(f, "};\n");
        }
        fprintf(f, "static void itemu_tramp_%s(void) { %s(); }\n", k->name, k->name);
        fprintf(f, "static const itemu_kernel itemu_info_%s = {\"%s\", itemu_tramp_%s, %s%s, %d, \"%s\", %d};\n", k->name,
                k->name, k->name, k->nb ? "itemu_binds_" : "nullptr", k->nb ? k->name : "", k->nb, in, k->line);
        fprintf(f, "static ::itemu::AutoReg itemu_reg_%s(&itemu_info_%s);\n", k->name, k->name);
    }
    fclose(f);
    free(ks);
    free(v);
    free(src);
    if (g_errors) {
        remove(out);
        return 1;
    }
    return 0;
}
