#ifndef CFULCRUM_CAPS_H
#define CFULCRUM_CAPS_H

#include <stdint.h>

// libcap and the prctl calls around it, for dropping privileges after the sockets are open.
// Masks are the kernel's capability bits (bit 10 = CAP_NET_BIND_SERVICE), as /proc shows them.
// Every function returns -1 with errno set on failure, like the system calls it wraps.

// Effective, permitted and inheritable sets of this thread.
int cfc_caps_get(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);
// Sets effective = permitted = keep, inheritable = 0 (the notify command gets none).
int cfc_caps_set(uint64_t keep);
// The bounding set as a mask (PR_CAPBSET_READ for every capability the kernel knows).
int cfc_bounding_get(uint64_t *bounding);
// Drops every capability not in keep from the bounding set (needs CAP_SETPCAP).
int cfc_bounding_drop_except(uint64_t keep);
// The ambient set as a mask, and clearing it.
int cfc_ambient_get(uint64_t *ambient);
int cfc_ambient_clear(void);
// PR_SET_KEEPCAPS: keep the permitted set across setresuid away from 0.
int cfc_keep_caps(int on);
// PR_SET_NO_NEW_PRIVS: an execve can never gain privileges again.
int cfc_no_new_privs(void);
// Highest capability number the kernel knows (CAP_LAST_CAP of the running kernel).
int cfc_last_cap(void);
// setresuid/setresgid (glibc declares them only under _GNU_SOURCE, which Swift's Glibc lacks).
int cfc_setresuid(uint32_t uid);
int cfc_setresgid(uint32_t gid);
// "cap_net_raw" for 13, written into buffer (NUL-terminated, truncated to size).
int cfc_cap_name(int cap, char *buffer, int size);

#endif
