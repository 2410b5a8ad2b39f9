/*
 * libFuzzer harness for a node's catalog log (home/catalog.log): the framing
 * of src/proto/catlog.h and the CatalogEntry records inside it, as
 * catalog_load reads them after a crash, a torn write or a flipped bit. The
 * input goes to catlog_parse(); the properties checked:
 *   - the intact prefix is within the input and holds the same records;
 *   - the intact records, appended again with catlog_append(), parse back to
 *     the same payloads, with nothing skipped and nothing left over;
 *   - each payload that unpacks as a CatalogEntry and passes
 *     catalog_entry_from_pb() keeps the struct's invariants and survives
 *     catalog_entry_to_pb() and from_pb again unchanged.
 * A broken property aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/catalog.h"
#include "proto/catlog.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_catlog: %s\n", what);
	abort();
}

static void check_entry(const uint8_t *payload, size_t len)
{
	Shoal__CatalogEntry *m = shoal__catalog_entry__unpack(NULL, len, payload);
	struct catalog_entry e, again;
	Shoal__CatalogEntry pb;

	if (!m)
		return;
	if (catalog_entry_from_pb(m, &e, NULL) != 0) {
		shoal__catalog_entry__free_unpacked(m, NULL);
		return;
	}
	shoal__catalog_entry__free_unpacked(m, NULL);
	if (strlen(e.name) > NAME_MAX_LEN || strlen(e.cap) > CAPABILITY_STR_LEN ||
	    e.cert_len == 0 || e.cert_len > CATALOG_CERT_MAX || (e.removed != 0 && e.removed != 1))
		fail("catalog_entry_from_pb broke an invariant");
	catalog_entry_to_pb(&e, &pb);
	if (catalog_entry_from_pb(&pb, &again, NULL) != 0)
		fail("an entry did not survive to_pb and from_pb");
	if (strcmp(e.name, again.name) || strcmp(e.cap, again.cap) || e.size != again.size ||
	    e.time_us != again.time_us || e.removed != again.removed ||
	    e.cert_len != again.cert_len || memcmp(e.cert, again.cert, e.cert_len) ||
	    memcmp(e.sig, again.sig, sizeof(e.sig)))
		fail("an entry changed across to_pb and from_pb");
	catalog_entry_release(&again);
	catalog_entry_release(&e);
}

/* Each intact record: checked as an entry, and appended to the rebuilt log. */
static int take(const uint8_t *payload, size_t len, void *arg)
{
	struct buf *rebuilt = arg;

	if (len == 0 || len > CATLOG_PAYLOAD_MAX)
		fail("catlog_parse passed a payload of no writable length");
	if (catlog_append(rebuilt, payload, len) != 0)
		fail("catlog_append refused a payload catlog_parse passed");
	check_entry(payload, len);
	return 0;
}

/* Compares each record of the rebuilt log with the next one of the original. */
struct replay {
	const struct buf *expect;
	size_t at;
};

static int same(const uint8_t *payload, size_t len, void *arg)
{
	struct replay *r = arg;
	const uint8_t *p = r->expect->data + r->at;

	if (r->at + 4 + len + CATLOG_CHECK_LEN > r->expect->len)
		fail("the rebuilt log has more records");
	if (((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]) != len ||
	    memcmp(p + 4, payload, len))
		fail("a record changed across parse and append");
	r->at += 4 + len + CATLOG_CHECK_LEN;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf rebuilt, again;
	struct catlog_scan scan, scan2, scan3;

	buf_init(&rebuilt);
	buf_add(&rebuilt, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	int ret = catlog_parse(data, size, take, &rebuilt, &scan);
	if (ret != 0) {
		if (scan.intact != 0 || scan.records != 0 || rebuilt.len != CATLOG_MAGIC_LEN)
			fail("a refused log reported records");
		buf_release(&rebuilt);
		return 0;
	}
	if (scan.intact < CATLOG_MAGIC_LEN || scan.intact > size)
		fail("the intact prefix is outside the input");

	/* The intact prefix alone holds the same records. */
	buf_init(&again);
	buf_add(&again, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	if (catlog_parse(data, scan.intact, take, &again, &scan2) != 0 ||
	    scan2.records != scan.records || scan2.skipped != scan.skipped ||
	    scan2.intact != scan.intact || again.len != rebuilt.len ||
	    memcmp(again.data, rebuilt.data, rebuilt.len))
		fail("the intact prefix reads differently from the whole");
	buf_release(&again);

	/* The rebuilt log reads back record for record, nothing skipped. */
	struct replay r = {.expect = &rebuilt, .at = CATLOG_MAGIC_LEN};
	if (catlog_parse(rebuilt.data, rebuilt.len, same, &r, &scan3) != 0 ||
	    scan3.records != scan.records || scan3.skipped != 0 || scan3.intact != rebuilt.len ||
	    r.at != rebuilt.len)
		fail("the rebuilt log does not read back");
	buf_release(&rebuilt);
	return 0;
}
