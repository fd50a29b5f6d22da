/* apple_stub/objc/message.h - Apple declares the dispatchers like this under
   OBJC_OLD_DISPATCH_PROTOTYPES=0: they must be cast to the exact type before a call. arm64 has
   no objc_msgSend_stret at all, so referencing it there fails to compile, as on a Mac. */
#ifndef IT_STUB_OBJC_MESSAGE_H
#define IT_STUB_OBJC_MESSAGE_H
#include <objc/objc.h>
void objc_msgSend(void);
#if !defined(__arm64__) && !defined(__aarch64__)
void objc_msgSend_stret(void);
#endif
#endif
