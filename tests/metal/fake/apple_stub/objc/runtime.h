/* apple_stub/objc/runtime.h - the runtime functions irontensor_metal.h uses (see objc.h) */
#ifndef IT_STUB_OBJC_RUNTIME_H
#define IT_STUB_OBJC_RUNTIME_H
#include <objc/objc.h>
id objc_getClass(const char *name);
SEL sel_registerName(const char *str);
#endif
