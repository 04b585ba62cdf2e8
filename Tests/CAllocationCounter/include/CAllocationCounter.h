// Counts heap allocations made by threads that opt in, so a test can prove the data plane's
// per-connection path allocates nothing. Linked into the test executable only: it replaces
// malloc and friends there and forwards every call to glibc.
#ifndef CALLOCATION_COUNTER_H
#define CALLOCATION_COUNTER_H

#include <stdint.h>

// Start counting allocations made by the calling thread.
void cac_track_current_thread(void);
// Stop counting the calling thread's allocations.
void cac_untrack_current_thread(void);
// Allocations made by tracked threads since the last reset.
int64_t cac_allocations(void);
void cac_reset(void);

#endif
