// System OpenSSL 3 (Debian `libssl-dev`), the one crypto stack for TLS, X.509, thumbprints, key
// checks and the dev PKI. Only the headers FieldAgent uses are listed.
#ifndef COPENSSL_H
#define COPENSSL_H

#include <openssl/opensslv.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#endif
