#include "CAllocationCounter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static _Thread_local int tracked;
static _Atomic int64_t allocations;

void cac_track_current_thread(void) { tracked = 1; }
void cac_untrack_current_thread(void) { tracked = 0; }
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
// Under ThreadSanitizer the malloc hook below does not fire for the Swift runtime's allocations
// (measured: AllocationCounterTests counts 0 for an allocation it makes); -1 makes every
// "allocated nothing" assertion fail instead of pass vacuously. scripts/sanitize thread leaves
// the allocation tests out.
int64_t cac_allocations(void) { return -1; }
#define CAC_ALLOCATIONS_DEFINED 1
#endif
#endif
#ifndef CAC_ALLOCATIONS_DEFINED
int64_t cac_allocations(void) { return atomic_load(&allocations); }
#endif
void cac_reset(void) { atomic_store(&allocations, 0); }

static inline void count(void) {
    if (tracked) atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CAC_SANITIZED 1
#endif
#endif

#ifdef CAC_SANITIZED
// Under AddressSanitizer or ThreadSanitizer (scripts/sanitize) the sanitizer owns malloc: replacing
// it here would hide the test process's heap from ASan and, under TSan, let glibc reuse memory
// TSan still believes shared, which it could report as races. The sanitizers' allocator calls this hook on every allocation instead, so the count,
// and the allocation tests, stay meaningful.
#include <sanitizer/allocator_interface.h>

static void on_malloc(const volatile void *ptr, size_t size) { (void)ptr; (void)size; count(); }
static void on_free(const volatile void *ptr) { (void)ptr; }

__attribute__((constructor)) static void cac_install_hooks(void) {
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *ptr, size_t size) { count(); return __libc_realloc(ptr, size); }
void free(void *ptr) { __libc_free(ptr); }

void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    count();
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
#endif
