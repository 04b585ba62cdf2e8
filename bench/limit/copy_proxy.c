// copy_proxy: the smallest single-threaded epoll proxy that copies through user space, the
// "limit-copy" reference of bench/run (see bench/README.md). Not a product: no timeouts, no
// balancing, no limits beyond a fixed UDP session table.
//
//   cc -O2 -Wall -Werror -o copy_proxy copy_proxy.c
//   ./copy_proxy tcp LISTEN_PORT BACKEND_PORT     # both on 127.0.0.1
//   ./copy_proxy udp LISTEN_PORT BACKEND_PORT
//
// TCP: per connection one fixed 64 KiB buffer per direction, recv() into it, send() out of it;
// TCP_NODELAY on both sockets; the backend connect is non-blocking. Both sockets are in epoll,
// edge-triggered, for reading and writing; every event pumps both directions until recv() or
// send() says EAGAIN, so a full peer waits for its EPOLLOUT. EOF from one side is passed on as
// shutdown(SHUT_WR) to the other once the buffer is flushed (half-close passes through); the
// connection is closed when both directions are done, or on any error.
//
// UDP: recvfrom() on the listening socket; per client address one socket connect()ed to the
// backend (a table of 64; when it is full the oldest session is replaced), send() on it; what the
// backend answers is recv()ed and sendto() the client from the listening socket. No timeouts.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ (64 * 1024)
#define USESSIONS 64
#define DGRAM 65536

enum kind { LISTENER, TCPCONN, USESSION };

typedef struct dir {
  int from, to;
  size_t len, off;  // bytes in buf, bytes of them already sent
  int eof, shut;    // EOF read from `from`; SHUT_WR done on `to`
  char buf[BUFSZ];
} dir;

typedef struct conn {
  enum kind kind;  // first: every epoll data.ptr points at a struct starting with its kind
  int cs, bs, connected, closed;
  struct conn *next_free;
  dir c2b, b2c;
} conn;

typedef struct usession {
  enum kind kind;
  int fd;  // connected to the backend; -1 when the slot is free
  struct sockaddr_in client;
} usession;

static int ep, lfd;
static struct sockaddr_in backend;
static enum kind listener_kind = LISTENER;
static usession sessions[USESSIONS];
static int next_victim;
static char dgram[DGRAM];
static conn *to_free;  // closed in this epoll_wait batch; freed after it (stale events may follow)

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void add(int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
}

static void close_conn(conn *c) {
  if (c->closed) return;
  c->closed = 1;
  close(c->cs);
  close(c->bs);
  c->next_free = to_free;
  to_free = c;
}

// Moves what can be moved from d->from to d->to. Returns -1 on an error (close the connection).
static int pump(dir *d) {
  for (;;) {
    if (d->off < d->len) {
      ssize_t n = send(d->to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
      if (n > 0) {
        d->off += n;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
      return -1;
    }
    d->off = d->len = 0;
    if (d->eof) {
      if (!d->shut) {
        d->shut = 1;
        if (shutdown(d->to, SHUT_WR) && errno != ENOTCONN) return -1;
      }
      return 0;
    }
    ssize_t n = recv(d->from, d->buf, BUFSZ, 0);
    if (n > 0) {
      d->len = n;
    } else if (n == 0) {
      d->eof = 1;
    } else if (errno == EAGAIN || errno == EINTR) {
      return 0;
    } else {
      return -1;
    }
  }
}

static void tcp_event(conn *c) {
  if (c->closed) return;
  if (!c->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->bs, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      close_conn(c);
      return;
    }
    struct sockaddr_in peer;
    len = sizeof peer;
    if (getpeername(c->bs, (struct sockaddr *)&peer, &len)) return;  // still connecting
    c->connected = 1;
  }
  if (pump(&c->c2b) || pump(&c->b2c) || (c->c2b.shut && c->b2c.shut)) close_conn(c);
}

static void tcp_accept(void) {
  int one = 1;
  for (;;) {
    int cs = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (cs < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == ECONNABORTED) continue;
      perror("accept4");  // e.g. EMFILE: the listener stays readable, the next event retries
      return;
    }
    int bs = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    conn *c = bs < 0 ? NULL : malloc(sizeof *c);
    if (!c) {
      close(cs);
      if (bs >= 0) close(bs);
      continue;
    }
    setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(bs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->kind = TCPCONN;
    c->cs = cs;
    c->bs = bs;
    c->connected = c->closed = 0;
    c->c2b = (dir){.from = cs, .to = bs};
    c->b2c = (dir){.from = bs, .to = cs};
    if (connect(bs, (struct sockaddr *)&backend, sizeof backend) == 0) {
      c->connected = 1;
    } else if (errno != EINPROGRESS) {
      close(cs);
      close(bs);
      free(c);
      continue;
    }
    add(cs, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c);
    add(bs, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c);
  }
}

static void udp_from_client(void) {
  for (int batch = 0; batch < 64; batch++) {
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(lfd, dgram, sizeof dgram, 0, (struct sockaddr *)&from, &flen);
    if (n < 0) return;  // EAGAIN (or an error the next datagram will not have)
    usession *s = NULL;
    for (int i = 0; i < USESSIONS; i++) {
      if (sessions[i].fd >= 0 && sessions[i].client.sin_port == from.sin_port &&
          sessions[i].client.sin_addr.s_addr == from.sin_addr.s_addr) {
        s = &sessions[i];
        break;
      }
    }
    if (!s) {
      for (int i = 0; i < USESSIONS && !s; i++)
        if (sessions[i].fd < 0) s = &sessions[i];
      if (!s) {  // table full: replace the oldest
        s = &sessions[next_victim];
        next_victim = (next_victim + 1) % USESSIONS;
        close(s->fd);  // also removes it from epoll
        s->fd = -1;
      }
      int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      if (fd < 0) continue;
      if (connect(fd, (struct sockaddr *)&backend, sizeof backend)) {
        close(fd);
        continue;
      }
      s->fd = fd;
      s->client = from;
      add(fd, EPOLLIN, s);
    }
    send(s->fd, dgram, n, 0);  // a full socket buffer drops the datagram, as UDP does
  }
}

static void udp_from_backend(usession *s) {
  for (int batch = 0; batch < 64; batch++) {
    ssize_t n = recv(s->fd, dgram, sizeof dgram, 0);
    if (n < 0) return;
    sendto(lfd, dgram, n, 0, (struct sockaddr *)&s->client, sizeof s->client);
  }
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
    fprintf(stderr, "usage: %s tcp|udp LISTEN_PORT BACKEND_PORT   (127.0.0.1)\n", argv[0]);
    return 2;
  }
  int udp = argv[1][0] == 'u', one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  backend = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(atoi(argv[3])),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  lfd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
  if (lfd < 0) die("socket");
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a)) die("bind");
  if (!udp && listen(lfd, 4096)) die("listen");
  for (int i = 0; i < USESSIONS; i++) sessions[i] = (usession){.kind = USESSION, .fd = -1};
  if ((ep = epoll_create1(0)) < 0) die("epoll_create1");
  add(lfd, EPOLLIN, &listener_kind);  // level-triggered: a batch limit leaves the rest for later
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      enum kind *k = evs[i].data.ptr;
      if (*k == LISTENER)
        udp ? udp_from_client() : tcp_accept();
      else if (*k == TCPCONN)
        tcp_event((conn *)k);
      else
        udp_from_backend((usession *)k);
    }
    while (to_free) {
      conn *c = to_free;
      to_free = c->next_free;
      free(c);
    }
  }
}
