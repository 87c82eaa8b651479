/* sha256.c — SHA-256 via OpenSSL EVP. */
#include "sha256.h"
#include "xalloc.h"

#include <openssl/evp.h>
#include <string.h>

void sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		xalloc_die();
	h->ctx = c;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void sha256_final_raw(struct sha256 *h, uint8_t out[32])
{
	unsigned int n = 32;
	EVP_DigestFinal_ex(h->ctx, out, &n);
	sha256_release(h);
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void sha256_final_digest(struct sha256 *h, char out[DIGEST_STRING_LEN + 1])
{
	uint8_t raw[32];
	sha256_final_raw(h, raw);
	memcpy(out, "sha256:", 7);
	hex_encode(raw, 32, out + 7);
}

void sha256_release(struct sha256 *h)
{
	if (h->ctx) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
}

void sha256_digest(const void *data, size_t len, char out[DIGEST_STRING_LEN + 1])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final_digest(&h, out);
}

bool digest_valid(const char *s)
{
	if (strncmp(s, "sha256:", 7) != 0)
		return false;
	s += 7;
	for (int i = 0; i < SHA256_HEX_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[SHA256_HEX_LEN] == '\0';
}
