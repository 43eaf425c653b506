/* fuzz_deb822.c — libFuzzer harness for the dpkg database stanza reader (export/deb822.c).
 *
 * A status file comes from the image: each input is read as one, stanza by stanza, and
 * every field of every stanza is walked, looked up by name and split into words.  The
 * buffer is copied to an allocation of exactly its size (not NUL-terminated), so ASan
 * sees any read past its end.  A malformed file may be refused; crashing, reading
 * outside the buffer, or a stanza or field that does not lie inside it may not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/deb822.h"

static void check_inside(const char *buf, size_t len, const char *p, size_t n)
{
	if (p < buf || p > buf + len || n > (size_t)(buf + len - p))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct deb822_stanza st;
	size_t pos = 0, line = 1, bad = 0, last = 0;
	int ret;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	while ((ret = deb822_next(buf, size, &pos, &line, &st, &bad)) > 0) {
		struct deb822_field f;
		size_t fpos = 0;

		check_inside(buf, size, st.start, st.len);
		if (pos <= last && size > 0)
			abort();   /* no progress: would loop */
		last = pos;
		while (deb822_field_next(&st, &fpos, &f)) {
			const char *w;
			size_t wl;

			check_inside(buf, size, f.name, f.namelen);
			check_inside(buf, size, f.value, f.vlen);
			check_inside(buf, size, f.raw, f.rawlen);
			for (size_t k = 0; k < 8 && deb822_word(f.value, f.vlen, k, &w, &wl); k++)
				check_inside(f.value, f.vlen, w, wl);
		}
		if (deb822_get(&st, "Package", &f))
			check_inside(buf, size, f.value, f.vlen);
	}
	if (ret < 0 && (bad == 0 || bad > line))
		abort();
	free(buf);
	return 0;
}
