#ifndef IT_STUB_STRING_H
#define IT_STUB_STRING_H
#include <stddef.h>
void *memset(void *p, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
#endif
