/* apple_check.c - compiles the Apple branch of irontensor_metal.h (objc_msgSend, and
   objc_msgSend_stret on x86-64 only) for arm64-apple-macos and x86_64-apple-macos objects with the
   stub headers in apple_stub/; backend.mk inspects the objects' undefined symbols. */
#define IRONTENSOR_METAL_IMPLEMENTATION
#include "../../../irontensor_metal.h"
