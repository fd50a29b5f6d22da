/* shaders_h_check.c - shaders.h compiles warning-free as C99 and C++11 (-pedantic), and joining
   its lines the way the Metal backend does gives back the sources byte for byte (the caller
   compares the output with `cat` of the inputs): escapes, line splitting and sizes are right. */
#include <stdio.h>
#include <string.h>
#include "../../shaders.h"

int main(int argc, char **argv) {
    FILE *f;
    int i, j, bad = 0;
    long total = 0;
    if (argc != 2 || !(f = fopen(argv[1], "wb"))) {
        fprintf(stderr, "usage: shaders_h_check joined.metal\n");
        return 2;
    }
    for (i = 0; i < IT_SHADER_FILE_COUNT; i++) {
        long size = 0;
        for (j = 0; j < it_shader_files[i].line_count; j++) {
            size_t n = strlen(it_shader_files[i].lines[j]);
            fwrite(it_shader_files[i].lines[j], 1, n, f);
            size += (long)n;
        }
        if (size != it_shader_files[i].size) {
            fprintf(stderr, "%s: lines add up to %ld bytes, table says %ld\n", it_shader_files[i].name, size, it_shader_files[i].size);
            bad = 1;
        }
        total += size;
    }
    fclose(f);
    if (total != IT_SHADER_TOTAL_SIZE) {
        fprintf(stderr, "total %ld bytes, IT_SHADER_TOTAL_SIZE %ld\n", total, (long)IT_SHADER_TOTAL_SIZE);
        bad = 1;
    }
    printf("shaders.h: %d files, %ld bytes joined%s\n", IT_SHADER_FILE_COUNT, total, bad ? " (MISMATCH)" : "");
    return bad;
}
