/* fuzz_image.c — libFuzzer harness for the readers of an image's JSON (image/json.c):
 * index.json and nested indexes, manifests, configs, a docker-archive's manifest.json,
 * and the platform and name comparisons selection makes with what they hold.
 *
 * The first byte of an input picks the reader (and, for manifest.json, whether a name
 * is asked for); the rest is the document.  Refusing it is fine; crashing, an ASan or
 * UBSan report, or a leak (every output is freed, after a failure too) is not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	struct sfs_err err;

	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0: {
		struct desc *d = NULL;
		size_t n = 0;
		struct platform want;

		platform_host(&want);
		if (index_parse(buf, len, "fuzz", &d, &n, &err) == 0)
			for (size_t i = 0; i < n; i++)
				(void)(platform_match(&want, &d[i].platform) &&
				       ref_equal("app", d[i].ref_name, false) &&
				       ref_equal("app:1", d[i].image_name, true));
		descs_free(d, n);
		break;
	}
	case 1: {
		struct manifest m;

		if (manifest_parse(buf, len, "fuzz", &m, &err) == 0)
			for (size_t i = 0; i < m.nlayers; i++)
				(void)layer_compression(m.layers[i].media_type);
		manifest_free(&m);
		break;
	}
	case 2: {
		struct img_config c;
		struct config_info ci;

		config_parse(buf, len, "fuzz", &c, &ci, &err);
		img_config_free(&c);
		config_info_free(&ci);
		break;
	}
	case 3: {
		struct docker_item it;

		docker_manifest_parse(buf, len, "fuzz", data[0] & 8 ? "app:latest" : NULL, &it, &err);
		docker_item_free(&it);
		break;
	}
	case 4: {
		/* --platform and names as a user types them */
		char *s = strndup(buf, len);
		struct platform p;

		if (!s)
			return 0;
		if (platform_parse(s, &p, &err) == 0) {
			char out[PLATFORM_SIZE];

			platform_format(&p, out);
		}
		(void)ref_equal(s, "docker.io/library/app:latest", true);
		free(s);
		break;
	}
	}
	return 0;
}
