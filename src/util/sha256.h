/* sha256.h — SHA-256 through OpenSSL's EVP interface, and "sha256:<hex>" digests. */
#pragma once

#include "macro.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN    64
#define DIGEST_STRING_LEN (7 + SHA256_HEX_LEN) /* "sha256:" + hex */

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* writes "sha256:<hex>" (DIGEST_STRING_LEN + 1 bytes) and releases the context */
void sha256_final_digest(struct sha256 *h, char out[DIGEST_STRING_LEN + 1]);
void sha256_final_raw(struct sha256 *h, uint8_t out[32]);
void sha256_release(struct sha256 *h);

/* one-shot: "sha256:<hex>" of a buffer */
void sha256_digest(const void *data, size_t len, char out[DIGEST_STRING_LEN + 1]);
void hex_encode(const uint8_t *in, size_t len, char *out);

/* true when s is "sha256:" followed by 64 lower-case hex digits */
bool digest_valid(const char *s);
/* pointer to the hex part of a valid digest */
static inline const char *digest_hex(const char *d)
{
	return d + 7;
}
