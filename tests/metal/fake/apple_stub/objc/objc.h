/* apple_stub/objc/objc.h - minimal stand-in for Apple's <objc/objc.h>, only to type-check and
   compile irontensor_metal.h for *-apple-macos targets on Linux (tests/metal/backend.mk). */
#ifndef IT_STUB_OBJC_H
#define IT_STUB_OBJC_H
typedef struct objc_class *Class;
typedef struct objc_object { Class isa; } *id;
typedef struct objc_selector *SEL;
typedef void (*IMP)(void); /* OBJC_OLD_DISPATCH_PROTOTYPES=0 */
#if defined(__arm64__) || defined(__aarch64__)
typedef _Bool BOOL; /* arm64: bool */
#else
typedef signed char BOOL; /* x86-64 macOS: signed char */
#endif
#define nil ((id)0)
#endif
