// Functions OpenSSL 3 offers only as macros, which Swift cannot call.
// Every symbol carries the `COpenSSLShims_` prefix; each says why it exists.
//
// The OpenSSL types are forward-declared instead of including <openssl/*.h>: including them here
// would copy every OpenSSL declaration into this module as well as into COpenSSL and make Swift
// see two of each. `struct ssl_ctx_st *` imports as the same `OpaquePointer` as `SSL_CTX *`.
#ifndef COPENSSLSHIMS_H
#define COPENSSLSHIMS_H

struct ssl_ctx_st;
struct ssl_st;
struct x509_st;

/// `SSL_CTX_set_min_proto_version` is a macro over `SSL_CTX_ctrl`. Returns 1 on success.
int COpenSSLShims_SSL_CTX_set_min_proto_version(struct ssl_ctx_st *ctx, int version);

/// `SSL_CTX_set_max_proto_version` is a macro over `SSL_CTX_ctrl`. Returns 1 on success.
int COpenSSLShims_SSL_CTX_set_max_proto_version(struct ssl_ctx_st *ctx, int version);

/// `SSL_set_tlsext_host_name` (SNI) is a macro over `SSL_ctrl`. Returns 1 on success.
int COpenSSLShims_SSL_set_tlsext_host_name(struct ssl_st *ssl, const char *name);

/// `SSL_CTX_add1_chain_cert` is a macro over `SSL_CTX_ctrl`; it takes its own reference to
/// `cert`. Returns 1 on success.
int COpenSSLShims_SSL_CTX_add1_chain_cert(struct ssl_ctx_st *ctx, struct x509_st *cert);

/// `OPENSSL_free` is a macro (it passes `__FILE__`/`__LINE__` to `CRYPTO_free`); used for the
/// buffers `ASN1_STRING_to_UTF8` allocates.
void COpenSSLShims_OPENSSL_free(void *pointer);

/// Adds one X.509 v3 extension given in `openssl.cnf` syntax (`"critical,CA:FALSE"`) to `cert`,
/// with `issuer` as the issuing certificate (for authorityKeyIdentifier; pass `cert` itself for
/// a self-signed one). Exists because `X509V3_set_ctx_nodb` is a macro that writes a field of
/// the `X509V3_CTX` struct, which Swift would otherwise have to mirror. Returns 1 on success,
/// 0 with the reason on the OpenSSL error queue.
int COpenSSLShims_X509_add_extension(struct x509_st *cert, struct x509_st *issuer, int nid,
                                     const char *value);

#endif
