/* gen_unicode: writes the Unicode tables of irontensor.h (the tokenizer's regex classes and NFC)
   from the Unicode Character Database, between the marker lines
       BEGIN GENERATED UNICODE TABLES ... END GENERATED UNICODE TABLES
   of the header.

       build/gen_unicode DATA_DIR irontensor.h           rewrite the tables in place
       build/gen_unicode --check DATA_DIR irontensor.h   exit 1 when they differ from the data

   DATA_DIR holds UnicodeData.txt, PropList.txt, CompositionExclusions.txt and CaseFolding.txt
   (Debian: apt-get install unicode-data, DATA_DIR /usr/share/unicode). Tables, all sorted:
     it__uc_gc_runs general-category runs, (first code point << 5) | category; a run lasts until
                    the next entry's first code point (unassigned code points are Cn)
     it__uc_space_ranges  White_Space (PropList.txt), pairs of inclusive bounds
     it__uc_ccc_runs  canonical combining class runs, (first << 8) | class
     it__uc_decomp  canonical decompositions, one level: code point, first, second (0 for a
                    singleton); Hangul syllables are algorithmic and not listed
     it__uc_comp    primary composites: first, second, composite, sorted by (first, second); every
                    two-code-point decomposition that is not a Full_Composition_Exclusion (the file
                    CompositionExclusions.txt, plus non-starter decompositions)
     it__uc_fold_ascii  non-ASCII code points whose simple case folding (C and S in CaseFolding.txt)
                    is an ASCII letter, with that letter: what (?i:...) must also match
   C99, libc only. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CP 0x110000
#define BEGIN_MARK "/* BEGIN GENERATED UNICODE TABLES"
#define END_MARK "/* END GENERATED UNICODE TABLES */"

static const char *const GC_NAMES[] = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl",
                                       "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk",
                                       "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
#define N_GC ((int)(sizeof GC_NAMES / sizeof GC_NAMES[0]))

static unsigned char gc[MAX_CP], ccc[MAX_CP], space[MAX_CP], excluded[MAX_CP];
static long dec_a[MAX_CP], dec_b[MAX_CP]; /* -1: no canonical decomposition */
static char fold_ascii[MAX_CP];

static char *out;
static size_t out_len, out_cap;
static void emit(const char *fmt, ...) {
    va_list ap;
    int n;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(out + out_len, out_cap - out_len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < out_cap - out_len) break;
        out_cap = out_cap ? out_cap * 2 : 1 << 16;
        out = (char *)realloc(out, out_cap);
        if (!out) { fprintf(stderr, "gen_unicode: out of memory\n"); exit(1); }
    }
    out_len += (size_t)n;
}

static FILE *open_data(const char *dir, const char *name) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gen_unicode: cannot open '%s' (Debian: apt-get install unicode-data)\n", path);
        exit(1);
    }
    return f;
}

/* Splits a ';'-separated line into at most max fields (whitespace around each kept). */
static int fields(char *line, char **f, int max) {
    int n = 0;
    char *p = line, *hash = strchr(line, '#');
    if (hash) *hash = 0;
    while (n < max) {
        f[n++] = p;
        p = strchr(p, ';');
        if (!p) break;
        *p++ = 0;
    }
    return n;
}
static char *trim(char *s) {
    char *e;
    while (*s && isspace((unsigned char)*s)) s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}
/* "0041" or "0041..005A" */
static int range(const char *s, long *lo, long *hi) {
    char *end;
    *lo = strtol(s, &end, 16);
    if (end == s) return 0;
    *hi = *lo;
    if (end[0] == '.' && end[1] == '.') *hi = strtol(end + 2, NULL, 16);
    return *lo >= 0 && *hi < MAX_CP && *lo <= *hi;
}

static void read_unicode_data(const char *dir) {
    FILE *f = open_data(dir, "UnicodeData.txt");
    char line[1024];
    long first = -1, cp, i;
    while (fgets(line, sizeof line, f)) {
        char *fl[15];
        int n = fields(line, fl, 15), cat;
        if (n < 6) continue;
        cp = strtol(fl[0], NULL, 16);
        for (cat = 0; cat < N_GC && strcmp(GC_NAMES[cat], fl[2]) != 0; cat++) {}
        if (cat == N_GC) { fprintf(stderr, "gen_unicode: unknown category '%s'\n", fl[2]); exit(1); }
        if (strstr(fl[1], ", First>")) { first = cp; continue; }
        if (strstr(fl[1], ", Last>")) {
            for (i = first; i <= cp; i++) { gc[i] = (unsigned char)cat; ccc[i] = (unsigned char)atoi(fl[3]); }
            continue;
        }
        gc[cp] = (unsigned char)cat;
        ccc[cp] = (unsigned char)atoi(fl[3]);
        if (fl[5][0] && fl[5][0] != '<') { /* canonical: one or two code points */
            char *end;
            dec_a[cp] = strtol(fl[5], &end, 16);
            dec_b[cp] = *trim(end) ? strtol(end, NULL, 16) : 0;
        }
    }
    fclose(f);
}

static void read_props(const char *dir) {
    FILE *f = open_data(dir, "PropList.txt");
    char line[1024];
    long lo, hi, i;
    while (fgets(line, sizeof line, f)) {
        char *fl[3];
        if (fields(line, fl, 3) < 2 || strcmp(trim(fl[1]), "White_Space") != 0) continue;
        if (range(trim(fl[0]), &lo, &hi))
            for (i = lo; i <= hi; i++) space[i] = 1;
    }
    fclose(f);
    f = open_data(dir, "CompositionExclusions.txt");
    while (fgets(line, sizeof line, f)) {
        char *fl[2];
        fields(line, fl, 2);
        if (range(trim(fl[0]), &lo, &hi))
            for (i = lo; i <= hi; i++) excluded[i] = 1;
    }
    fclose(f);
    f = open_data(dir, "CaseFolding.txt");
    while (fgets(line, sizeof line, f)) {
        char *fl[4];
        long to;
        if (fields(line, fl, 4) < 3) continue;
        if (strcmp(trim(fl[1]), "C") != 0 && strcmp(trim(fl[1]), "S") != 0) continue;
        if (!range(trim(fl[0]), &lo, &hi)) continue;
        to = strtol(trim(fl[2]), NULL, 16);
        if (lo >= 0x80 && to < 0x80 && isalpha((int)to)) fold_ascii[lo] = (char)to;
    }
    fclose(f);
}

static void table_begin(const char *decl) { emit("%s = {", decl); }
static int col;
static void item(const char *fmt, unsigned long v) {
    if (col % 10 == 0) emit("\n   ");
    emit(" ");
    emit(fmt, v);
    emit(",");
    col++;
}
static void table_end(void) {
    emit("\n};\n");
    col = 0;
}

static void generate(void) {
    long cp, n;
    int prev;
    emit(BEGIN_MARK " (tools/gen_unicode.c from the Unicode Character Database: UnicodeData.txt,\n"
                    "   PropList.txt, CompositionExclusions.txt, CaseFolding.txt; do not edit, run the tool) */\n");
    table_begin("static const uint32_t it__uc_gc_runs[]");
    for (cp = 0, prev = -1; cp < MAX_CP; cp++)
        if (gc[cp] != prev) {
            item("0x%lx", ((unsigned long)cp << 5) | gc[cp]);
            prev = gc[cp];
        }
    table_end();
    table_begin("static const uint32_t it__uc_space_ranges[]");
    for (cp = 0; cp < MAX_CP; cp++)
        if (space[cp] && (cp == 0 || !space[cp - 1])) {
            for (n = cp; n + 1 < MAX_CP && space[n + 1]; n++) {}
            item("0x%lx", (unsigned long)cp);
            item("0x%lx", (unsigned long)n);
        }
    table_end();
    table_begin("static const uint32_t it__uc_ccc_runs[]");
    for (cp = 0, prev = -1; cp < MAX_CP; cp++)
        if (ccc[cp] != prev) {
            item("0x%lx", ((unsigned long)cp << 8) | ccc[cp]);
            prev = ccc[cp];
        }
    table_end();
    table_begin("static const uint32_t it__uc_decomp[]");
    for (cp = 0; cp < MAX_CP; cp++)
        if (dec_a[cp] >= 0) {
            item("0x%lx", (unsigned long)cp);
            item("0x%lx", (unsigned long)dec_a[cp]);
            item("0x%lx", (unsigned long)dec_b[cp]);
        }
    table_end();
    { /* primary composites, sorted by (first, second): a simple selection over a counting pass */
        static long pairs[4096][3];
        int np = 0, i, j;
        for (cp = 0; cp < MAX_CP; cp++)
            if (dec_a[cp] >= 0 && dec_b[cp] > 0 && !excluded[cp] && ccc[cp] == 0 && ccc[dec_a[cp]] == 0) {
                if (np == 4096) { fprintf(stderr, "gen_unicode: too many composites\n"); exit(1); }
                pairs[np][0] = dec_a[cp];
                pairs[np][1] = dec_b[cp];
                pairs[np][2] = cp;
                np++;
            }
        for (i = 1; i < np; i++) /* insertion sort: a thousand entries */
            for (j = i; j > 0 && (pairs[j - 1][0] > pairs[j][0] ||
                                  (pairs[j - 1][0] == pairs[j][0] && pairs[j - 1][1] > pairs[j][1])); j--) {
                long t0 = pairs[j][0], t1 = pairs[j][1], t2 = pairs[j][2];
                memcpy(pairs[j], pairs[j - 1], sizeof pairs[j]);
                pairs[j - 1][0] = t0;
                pairs[j - 1][1] = t1;
                pairs[j - 1][2] = t2;
            }
        table_begin("static const uint32_t it__uc_comp[]");
        for (i = 0; i < np; i++) {
            item("0x%lx", (unsigned long)pairs[i][0]);
            item("0x%lx", (unsigned long)pairs[i][1]);
            item("0x%lx", (unsigned long)pairs[i][2]);
        }
        table_end();
    }
    table_begin("static const uint32_t it__uc_fold_ascii[]");
    for (cp = 0; cp < MAX_CP; cp++)
        if (fold_ascii[cp]) {
            item("0x%lx", (unsigned long)cp);
            item("0x%lx", (unsigned long)(unsigned char)fold_ascii[cp]);
        }
    table_end();
    emit(END_MARK);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "gen_unicode: cannot read '%s'\n", path);
        exit(1);
    }
    buf = (char *)malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "gen_unicode: cannot read '%s'\n", path); exit(1); }
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    int check = argc == 4 && strcmp(argv[1], "--check") == 0;
    const char *dir, *header;
    char *text, *b, *e;
    size_t len;
    long cp;
    FILE *f;
    if (argc != 3 && !check) {
        fprintf(stderr, "usage: gen_unicode [--check] UNICODE_DATA_DIR irontensor.h\n");
        return 2;
    }
    dir = argv[argc - 2];
    header = argv[argc - 1];
    for (cp = 0; cp < MAX_CP; cp++) dec_a[cp] = dec_b[cp] = -1;
    read_unicode_data(dir);
    read_props(dir);
    generate();
    text = read_all(header, &len);
    b = strstr(text, BEGIN_MARK);
    e = b ? strstr(b, END_MARK) : NULL;
    if (!b || !e) {
        fprintf(stderr, "gen_unicode: '%s' has no '%s ... %s' block\n", header, BEGIN_MARK, END_MARK);
        return 1;
    }
    e += strlen(END_MARK);
    if (check) {
        if ((size_t)(e - b) == out_len && memcmp(b, out, out_len) == 0) {
            printf("unicode tables ok: %s matches %s\n", header, dir);
            return 0;
        }
        fprintf(stderr, "gen_unicode: the Unicode tables in '%s' differ from the data in '%s'; run build/gen_unicode %s %s\n",
                header, dir, dir, header);
        return 1;
    }
    f = fopen(header, "wb");
    if (!f || fwrite(text, 1, (size_t)(b - text), f) != (size_t)(b - text) || fwrite(out, 1, out_len, f) != out_len ||
        fwrite(e, 1, len - (size_t)(e - text), f) != len - (size_t)(e - text) || fclose(f) != 0) {
        fprintf(stderr, "gen_unicode: cannot write '%s'\n", header);
        return 1;
    }
    printf("gen_unicode: wrote %zu bytes of tables into %s\n", out_len, header);
    return 0;
}
