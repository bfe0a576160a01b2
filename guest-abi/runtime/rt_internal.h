/* Runtime-private helpers (not part of the guest API in kxen_rt.h). */
#ifndef KXEN_RT_INTERNAL_H
#define KXEN_RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

void rt_traps_init(void);
int rt_memcmp(const void *a, const void *b, size_t n);

/* GCC may emit calls to these even in freestanding code (struct copies, zeroing). */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
