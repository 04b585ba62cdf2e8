#include "CFulcrumTLS.h"
#include <string.h>
#include <openssl/x509v3.h>

const int CFT_ERROR_WANT_READ = SSL_ERROR_WANT_READ;
const int CFT_ERROR_WANT_WRITE = SSL_ERROR_WANT_WRITE;
const int CFT_ERROR_ZERO_RETURN = SSL_ERROR_ZERO_RETURN;
const int CFT_ERROR_SYSCALL = SSL_ERROR_SYSCALL;

SSL_CTX *cft_client_context(int verify, const char *ca_file) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return NULL;
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (verify) {
        int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                                     : SSL_CTX_set_default_verify_paths(ctx);
        if (loaded != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

SSL *cft_client_connection(SSL_CTX *ctx, int fd, const char *server_name, int verify, const char *ip_text) {
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) goto fail;
    if (server_name != NULL && server_name[0] != '\0') {
        if (SSL_set_tlsext_host_name(ssl, server_name) != 1) goto fail;
        if (verify && SSL_set1_host(ssl, server_name) != 1) goto fail;
    } else if (verify && ip_text != NULL) {
        // A chain that verifies is not enough: any certificate from that CA would pass.
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip_text) != 1) goto fail;
    }
    SSL_set_connect_state(ssl);
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

void cft_last_error(char *buffer, size_t length) {
    if (length == 0) return;
    unsigned long code = ERR_get_error();
    if (code == 0) {
        buffer[0] = '\0';
    } else {
        ERR_error_string_n(code, buffer, length);
    }
    ERR_clear_error();
}
