/* apple_stub libc: only what irontensor_metal.h's implementation calls (see objc/objc.h) */
#ifndef IT_STUB_STDIO_H
#define IT_STUB_STDIO_H
#include <stddef.h>
int snprintf(char *buf, size_t size, const char *fmt, ...);
#endif
