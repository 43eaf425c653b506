/* fuzz_ldcache.c — libFuzzer harness for the ld.so.cache reader (export/ldcache.c).
 *
 * An image's /etc/ld.so.cache is untrusted: each input is parsed as one (copied to an
 * allocation of exactly its size, so ASan sees any read past it) and every entry's name
 * and path is read to its NUL.  Refusing the input is fine; reading outside it is not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/ldcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	struct ldcache lc;
	size_t total = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (ldcache_parse(&lc, buf, size) == 0) {
		for (size_t i = 0; i < lc.nlibs; i++) {
			struct ldcache_entry e;

			if (!ldcache_entry(&lc, i, &e))
				continue;
			total += strlen(e.key) + strlen(e.value);
			if ((const unsigned char *)e.key < buf || (const unsigned char *)e.value < buf ||
			    (const unsigned char *)e.key + strlen(e.key) >= buf + size ||
			    (const unsigned char *)e.value + strlen(e.value) >= buf + size)
				abort();
		}
	}
	free(buf);
	return total == (size_t)-1;
}
