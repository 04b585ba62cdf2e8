#include "CFulcrumCaps.h"

#include <errno.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

int cfc_last_cap(void) {
    // cap_max_bits() asks the kernel (via /proc or probing), so a newer kernel's extra
    // capabilities are dropped too, not only those this libcap was built knowing.
    int bits = (int)cap_max_bits();
    return bits > 64 ? 63 : bits - 1;
}

int cfc_caps_get(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable) {
    cap_t caps = cap_get_proc();
    if (caps == NULL) return -1;
    *effective = *permitted = *inheritable = 0;
    int last = cfc_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        cap_flag_value_t e = CAP_CLEAR, p = CAP_CLEAR, i = CAP_CLEAR;
        if (cap_get_flag(caps, cap, CAP_EFFECTIVE, &e) != 0 || cap_get_flag(caps, cap, CAP_PERMITTED, &p) != 0
            || cap_get_flag(caps, cap, CAP_INHERITABLE, &i) != 0) {
            int saved = errno;
            cap_free(caps);
            errno = saved;
            return -1;
        }
        if (e == CAP_SET) *effective |= 1ULL << cap;
        if (p == CAP_SET) *permitted |= 1ULL << cap;
        if (i == CAP_SET) *inheritable |= 1ULL << cap;
    }
    cap_free(caps);
    return 0;
}

int cfc_caps_set(uint64_t keep) {
    cap_t caps = cap_init();  // all clear
    if (caps == NULL) return -1;
    int last = cfc_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        if (!(keep & (1ULL << cap))) continue;
        cap_value_t value = cap;
        if (cap_set_flag(caps, CAP_EFFECTIVE, 1, &value, CAP_SET) != 0
            || cap_set_flag(caps, CAP_PERMITTED, 1, &value, CAP_SET) != 0) {
            int saved = errno;
            cap_free(caps);
            errno = saved;
            return -1;
        }
    }
    int rc = cap_set_proc(caps);
    int saved = errno;
    cap_free(caps);
    errno = saved;
    return rc;
}

int cfc_bounding_get(uint64_t *bounding) {
    *bounding = 0;
    int last = cfc_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0) return -1;
        if (in) *bounding |= 1ULL << cap;
    }
    return 0;
}

int cfc_bounding_drop_except(uint64_t keep) {
    int last = cfc_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        if (keep & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return -1;
    }
    return 0;
}

int cfc_ambient_get(uint64_t *ambient) {
    *ambient = 0;
    int last = cfc_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        int in = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
        if (in < 0) return -1;
        if (in) *ambient |= 1ULL << cap;
    }
    return 0;
}

int cfc_ambient_clear(void) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

int cfc_keep_caps(int on) {
    return prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0);
}

int cfc_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int cfc_cap_name(int cap, char *buffer, int size) {
    if (size <= 0) { errno = EINVAL; return -1; }
    char *name = cap_to_name(cap);
    if (name == NULL) return -1;
    strncpy(buffer, name, (size_t)size - 1);
    buffer[size - 1] = '\0';
    cap_free(name);
    return 0;
}

int cfc_setresuid(uint32_t uid) {
    return setresuid(uid, uid, uid);
}

int cfc_setresgid(uint32_t gid) {
    return setresgid(gid, gid, gid);
}
