/* digest.c — sha256 digests as the image-spec writes them ("sha256:" and 64 lowercase
 * hex digits, descriptor.md "Digests"), computed with OpenSSL's EVP while bytes stream by.
 *
 * Only sha256 is accepted: it is the algorithm every tool writes, and the one the cache
 * is keyed by; a descriptor naming another algorithm is refused by digest_valid's
 * callers with the digest in the message.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int hasher_init(struct hasher *h, struct sfs_err *err)
{
	h->n = 0;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
		return sfs_fail(err, ENOMEM, "cannot start sha256");
	}
	return 0;
}

void hasher_update(struct hasher *h, const void *buf, size_t n)
{
	EVP_DigestUpdate(h->ctx, buf, n);
	h->n += n;
}

void hasher_final(struct hasher *h, char out[DIGEST_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_DigestFinal_ex(h->ctx, md, &len);
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < len && i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	out[DIGEST_SIZE - 1] = '\0';
}

void hasher_free(struct hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int digest_of(const void *buf, size_t n, char out[DIGEST_SIZE], struct sfs_err *err)
{
	struct hasher h;

	if (hasher_init(&h, err) < 0)
		return -1;
	hasher_update(&h, buf, n);
	hasher_final(&h, out);
	hasher_free(&h);
	return 0;
}
