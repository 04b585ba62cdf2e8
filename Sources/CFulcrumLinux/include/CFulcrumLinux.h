// C shim for Fulcrum: only what Swift cannot reach well from Glibc (macros, packed structs,
// GNU-only calls). Every symbol is prefixed `cfl_`. No logic lives here.
#ifndef CFULCRUM_LINUX_H
#define CFULCRUM_LINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

// splice(2) between a socket and a pipe; flags are CFL_SPLICE_F_*.
ssize_t cfl_splice(int fd_in, int fd_out, size_t len, unsigned int flags);
extern const unsigned int CFL_SPLICE_F_MOVE;
extern const unsigned int CFL_SPLICE_F_NONBLOCK;

// pipe2(O_NONBLOCK|O_CLOEXEC); fds[0] read end, fds[1] write end.
int cfl_pipe_nonblocking(int fds[2]);
// F_SETPIPE_SZ / F_GETPIPE_SZ: returns the capacity the kernel granted, or -1.
int cfl_pipe_set_size(int fd, int size);
int cfl_pipe_get_size(int fd);

// accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC.
int cfl_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len);
// socket(2) with SOCK_NONBLOCK|SOCK_CLOEXEC.
int cfl_socket_nonblocking(int domain, int type);

// epoll. struct epoll_event is packed on x86_64, which Swift does not import faithfully,
// so events are read through accessors over an opaque buffer.
int cfl_epoll_create(void);
int cfl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int cfl_epoll_wait(int epfd, void *events, int maxevents, int timeout_ms);
size_t cfl_epoll_event_size(void);
uint32_t cfl_epoll_event_events(const void *events, int index);
uint64_t cfl_epoll_event_data(const void *events, int index);
extern const int CFL_EPOLL_CTL_ADD;
extern const int CFL_EPOLL_CTL_MOD;
extern const int CFL_EPOLL_CTL_DEL;
extern const uint32_t CFL_EPOLLIN;
extern const uint32_t CFL_EPOLLOUT;
extern const uint32_t CFL_EPOLLERR;
extern const uint32_t CFL_EPOLLHUP;
extern const uint32_t CFL_EPOLLRDHUP;
extern const uint32_t CFL_EPOLLET;

// eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC).
int cfl_eventfd(void);

// Socket option names that Glibc's Swift overlay does not always expose.
extern const int CFL_SO_REUSEPORT;
extern const int CFL_IP_FREEBIND;
extern const int CFL_IPV6_FREEBIND;
extern const int CFL_IPV6_V6ONLY;
extern const int CFL_TCP_NODELAY;
extern const int CFL_SOL_TCP;

// recvmmsg/sendmmsg. struct mmsghdr is mirrored so Swift sees a plain struct; shim.c proves
// the layout matches the kernel's with _Static_assert.
#include <sys/uio.h>
struct cfl_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};
int cfl_recvmmsg(int fd, struct cfl_mmsghdr *msgs, unsigned int count);
int cfl_sendmmsg(int fd, struct cfl_mmsghdr *msgs, unsigned int count);
extern const int CFL_MSG_TRUNC;
// UDP generic segmentation offload: a control message telling the kernel to cut one send into
// datagrams of `segment_size` bytes (the last may be shorter). Writes it into `buffer`, which
// must hold cfl_udp_segment_space() bytes, and returns the msg_controllen to use.
size_t cfl_udp_segment_space(void);
size_t cfl_udp_segment_cmsg(void *buffer, uint16_t segment_size);

// Monotonic milliseconds, coarse clock: cheap enough to read once per loop iteration.
int64_t cfl_monotonic_ms(void);
/// CLOCK_MONOTONIC in microseconds (vDSO, not COARSE): for spans shorter than a tick.
int64_t cfl_monotonic_us(void);

// Names the calling thread for the kernel (top -H, /proc/PID/task/*/comm); at most 15 bytes.
int cfl_set_thread_name(const char *name);

// SO_PEERCRED of a Unix socket (struct ucred needs _GNU_SOURCE, which Swift's Glibc lacks).
int cfl_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

#endif
#include "CFulcrumLinuxNetlink.h"
#include "CFulcrumLinuxVRRP.h"
