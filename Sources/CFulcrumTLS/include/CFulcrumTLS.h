// C shim over OpenSSL for HTTPS health checks: only the calls that are macros in C or need
// several steps Swift would otherwise repeat. Every symbol is prefixed `cft_`. No check
// logic lives here; Swift drives the non-blocking handshake with SSL_connect/SSL_get_error.
#ifndef CFULCRUM_TLS_H
#define CFULCRUM_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/err.h>

// A client context. verify != 0: the member's certificate chain must verify against
// ca_file (PEM), or the system store when ca_file is NULL. NULL on failure (see cft_last_error).
SSL_CTX *cft_client_context(int verify, const char *ca_file);

// A connection on a connected non-blocking socket. server_name (may be NULL) is sent as SNI
// and, when the context verifies, is the name the certificate must carry; without one, a
// verifying connection requires the certificate to carry the member's address, ip_text.
SSL *cft_client_connection(SSL_CTX *ctx, int fd, const char *server_name, int verify, const char *ip_text);

// The oldest queued OpenSSL error as text (empty when none); clears the queue.
void cft_last_error(char *buffer, size_t length);

// SSL_get_error results Swift needs by name.
extern const int CFT_ERROR_WANT_READ;
extern const int CFT_ERROR_WANT_WRITE;
extern const int CFT_ERROR_ZERO_RETURN;
extern const int CFT_ERROR_SYSCALL;

#endif
