/*
 * The catalog log's framing; see catlog.h.
 */
#include "proto/catlog.h"

#include <string.h>

#include "crypto/hash.h"
#include "util/error.h"

_Static_assert(sizeof(CATLOG_MAGIC) - 1 == CATLOG_MAGIC_LEN, "the magic is 16 bytes");

int catlog_append(struct buf *out, const uint8_t *payload, size_t len)
{
	uint8_t sum[SHA256_LEN];
	if (len == 0 || len > CATLOG_PAYLOAD_MAX)
		return SHOAL_ETOOBIG;
	sha256(payload, len, sum);
	buf_add_be32(out, (uint32_t)len);
	buf_add(out, payload, len);
	buf_add(out, sum, CATLOG_CHECK_LEN);
	return 0;
}

int catlog_parse(const uint8_t *data, size_t len, catlog_fn fn, void *arg, struct catlog_scan *scan)
{
	memset(scan, 0, sizeof(*scan));
	if (len < CATLOG_MAGIC_LEN || memcmp(data, CATLOG_MAGIC, CATLOG_MAGIC_LEN))
		return SHOAL_EVERSION;
	size_t at = CATLOG_MAGIC_LEN;
	scan->intact = at;
	while (len - at >= 4) {
		const uint8_t *p = data + at;
		size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (n == 0 || n > CATLOG_PAYLOAD_MAX || len - at - 4 < n + CATLOG_CHECK_LEN)
			break; /* torn, or no length a writer wrote */
		uint8_t sum[SHA256_LEN];
		sha256(p + 4, n, sum);
		at += 4 + n + CATLOG_CHECK_LEN;
		scan->intact = at;
		if (memcmp(sum, p + 4 + n, CATLOG_CHECK_LEN)) {
			scan->skipped++;
			continue;
		}
		scan->records++;
		int ret = fn(p + 4, n, arg);
		if (ret)
			return ret;
	}
	return 0;
}
