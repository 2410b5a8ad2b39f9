/*
 * Writes the seed corpora of the fuzz harnesses: `gen_corpus MANIFEST_DIR
 * CAPABILITY_DIR CATLOG_DIR REQUEST_DIR FOLDER_DIR` (fuzz/run.sh --seeds runs it into
 * fuzz/corpus/). Valid seeds come from the real encoders (manifest_encode,
 * chunklist_encode, capability_format, enroll_request_format) so they track
 * the format; invalid ones are those encodings truncated, or protobuf written
 * by hand with one rule broken (version, kind, mode, sizes, lengths, counts
 * past the limits, wire types), plus garbage, and for the text harness names
 * good and bad; catalog logs of shaped entries, whole, torn, with a flipped
 * bit, a bad length or magic; enrollment requests signed by a fixed key, then
 * tampered with, mis-shaped, cut, wrapped in other text or past the caps;
 * folder batches signed by the member of fuzz/folder_net.h, chained, then
 * tampered with, cut or breaking a rule under a good signature, and invites,
 * folder ids and version vectors good and bad.
 * Everything is deterministic (Ed25519 signatures are too), so regenerating
 * the seeds changes no file unless the format changed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/hash.h"
#include "crypto/identity.h"
#include "proto/capability.h"
#include "proto/catalog.h"
#include "proto/catlog.h"
#include "proto/enroll.h"
#include "proto/folder.h"
#include "proto/folderjournal.h"
#include "proto/manifest.h"
#include "proto/name.h"
#include "util/buf.h"
#include "util/error.h"

#include "folder_net.h"

static const char *out_dir;
static int failures;

static void emit(const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_corpus: cannot write %s: %s\n", path, strerror(errno));
		failures++;
	}
}

static void emit_buf(const char *name, const struct buf *b)
{
	emit(name, b->data, b->len);
}

static void emit_str(const char *name, const char *s)
{
	emit(name, s, strlen(s));
}

/* Deterministic filler bytes; seed picks the pattern. */
static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = 2463534242u ^ seed;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static struct chunk_ref ref_make(unsigned seed, uint32_t size)
{
	struct chunk_ref ref;
	fill(ref.id, sizeof(ref.id), seed);
	fill(ref.key, sizeof(ref.key), seed + 1000);
	ref.size = size;
	return ref;
}

/* Hand-written protobuf, for the inputs the encoders refuse to produce. */
static void pb_varint(struct buf *b, uint64_t v)
{
	uint8_t byte;
	do {
		byte = v & 0x7f;
		v >>= 7;
		if (v)
			byte |= 0x80;
		buf_add(b, &byte, 1);
	} while (v);
}

static void pb_tag(struct buf *b, unsigned field, unsigned wire_type)
{
	pb_varint(b, (uint64_t)field << 3 | wire_type);
}

static void pb_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
	pb_tag(b, field, 2);
	pb_varint(b, n);
	buf_add(b, p, n);
}

/* A ChunkRef with id and key of the given lengths, as field `field`. */
static void pb_ref(struct buf *b, unsigned field, size_t id_len, size_t key_len, uint32_t size)
{
	struct buf ref = BUF_INIT;
	uint8_t bytes[72];

	fill(bytes, sizeof(bytes), (unsigned)(id_len * 7 + key_len + size));
	pb_bytes(&ref, 1, bytes, id_len);
	pb_tag(&ref, 2, 0);
	pb_varint(&ref, size);
	pb_bytes(&ref, 3, bytes + 32, key_len);
	pb_bytes(b, field, ref.data, ref.len);
	buf_release(&ref);
}

/* The scalar fields of a Manifest; proto3 leaves zero values out. */
static void pb_header(struct buf *b, uint64_t version, uint64_t kind, uint64_t size, uint64_t mode)
{
	const uint64_t fields[] = {version, 0, kind, size, mode};
	for (unsigned i = 0; i < 5; i++) {
		if (fields[i]) {
			pb_tag(b, i + 1, 0);
			pb_varint(b, fields[i]);
		}
	}
}

static void encode_manifest(struct buf *out, struct chunk_ref *chunks, size_t nchunks,
			    struct chunk_ref *lists, size_t nlists, uint64_t size, uint32_t mode,
			    int64_t mtime)
{
	struct manifest m = {
		.kind = MANIFEST_FILE,
		.size = size,
		.mode = mode,
		.mtime = mtime,
		.chunks = chunks,
		.nchunks = nchunks,
		.lists = lists,
		.nlists = nlists,
	};
	int err = manifest_encode(&m, out);
	if (err) {
		fprintf(stderr, "gen_corpus: manifest_encode: %s\n", shoal_strerror(err));
		failures++;
	}
}

static void encode_chunklist(struct buf *out, const struct chunk_ref *refs, size_t n)
{
	int err = chunklist_encode(refs, n, out);
	if (err) {
		fprintf(stderr, "gen_corpus: chunklist_encode: %s\n", shoal_strerror(err));
		failures++;
	}
}

static void manifest_seeds(void)
{
	struct chunk_ref one[1] = {ref_make(1, 1000)};
	struct chunk_ref three[3] = {ref_make(2, 262144), ref_make(3, 1048576), ref_make(4, 17)};
	struct chunk_ref max[1] = {ref_make(5, CHUNK_SIZE_MAX)};
	struct chunk_ref lists[2] = {ref_make(6, 16384 * 72), ref_make(7, 72)};
	struct chunk_ref five[5];
	struct buf b = BUF_INIT;
	uint8_t junk[128];

	for (unsigned i = 0; i < 5; i++)
		five[i] = ref_make(10 + i, 1 + i * 4096);

	/* Valid, from the encoders. */
	encode_manifest(&b, NULL, 0, NULL, 0, 0, 0644, 1700000000);
	emit_buf("valid-manifest-empty", &b);
	buf_reset(&b);
	encode_manifest(&b, one, 1, NULL, 0, 1000, 0600, 1700000000);
	emit_buf("valid-manifest-one-chunk", &b);
	buf_reset(&b);
	encode_manifest(&b, max, 1, NULL, 0, CHUNK_SIZE_MAX, 07777, -1);
	emit_buf("valid-manifest-max-chunk", &b);
	buf_reset(&b);
	encode_manifest(&b, NULL, 0, lists, 2, (uint64_t)20 << 30, 0644, 1700000000);
	emit_buf("valid-manifest-lists", &b);
	buf_reset(&b);
	/* Unknown fields are skipped, so later versions can add some. */
	encode_manifest(&b, one, 1, NULL, 0, 1000, 0600, 1700000000);
	pb_tag(&b, 15, 0);
	pb_varint(&b, 42);
	emit_buf("valid-manifest-unknown-field", &b);
	buf_reset(&b);
	/* mtime_ns (field 10): up to 999999999; a manifest without it is older. */
	encode_manifest(&b, one, 1, NULL, 0, 1000, 0600, 1700000000);
	pb_tag(&b, 10, 0);
	pb_varint(&b, 999999999);
	emit_buf("valid-manifest-mtime-ns", &b);
	buf_reset(&b);
	encode_manifest(&b, one, 1, NULL, 0, 1000, 0600, 1700000000);
	pb_tag(&b, 10, 0);
	pb_varint(&b, 1000000000);
	emit_buf("bad-manifest-mtime-ns", &b);
	buf_reset(&b);

	/* Truncated encodings. */
	encode_manifest(&b, three, 3, NULL, 0, 262144 + 1048576 + 17, 0755, 1600000000);
	emit_buf("valid-manifest-three-chunks", &b);
	emit("bad-manifest-truncated-half", b.data, b.len / 2);
	emit("bad-manifest-truncated-end", b.data, b.len - 3);
	buf_reset(&b);

	/* ChunkLists. */
	encode_chunklist(&b, one, 1);
	emit_buf("valid-chunklist-one", &b);
	buf_reset(&b);
	encode_chunklist(&b, five, 5);
	emit_buf("valid-chunklist-five", &b);
	emit("bad-chunklist-truncated", b.data, b.len - 10);
	buf_reset(&b);

	/* One rule broken each, by hand. */
	pb_header(&b, 2, 0, 1000, 0644);
	pb_ref(&b, 7, 32, 32, 1000);
	emit_buf("bad-manifest-version-2", &b);
	buf_reset(&b);
	pb_header(&b, 1, 1, 0, 0755);
	emit_buf("bad-manifest-directory", &b);
	buf_reset(&b);
	pb_header(&b, 1, 0, 1000, 010000);
	pb_ref(&b, 7, 32, 32, 1000);
	emit_buf("bad-manifest-mode", &b);
	buf_reset(&b);
	pb_header(&b, 1, 0, 1001, 0644);
	pb_ref(&b, 7, 32, 32, 1000);
	emit_buf("bad-manifest-size-mismatch", &b);
	buf_reset(&b);
	pb_header(&b, 1, 0, 1000, 0644);
	pb_ref(&b, 7, 32, 32, 1000);
	pb_ref(&b, 8, 32, 32, 72);
	emit_buf("bad-manifest-chunks-and-lists", &b);
	buf_reset(&b);
	pb_header(&b, 1, 0, 1000, 0644);
	pb_ref(&b, 7, 31, 33, 1000);
	emit_buf("bad-manifest-id-key-length", &b);
	buf_reset(&b);
	pb_header(&b, 1, 0, CHUNK_SIZE_MAX + 1, 0644);
	pb_ref(&b, 7, 32, 32, CHUNK_SIZE_MAX + 1);
	pb_ref(&b, 7, 32, 32, 0);
	emit_buf("bad-manifest-chunk-sizes", &b);
	buf_reset(&b);
	/* An announced length far past the input. */
	pb_header(&b, 1, 0, 1000, 0644);
	pb_tag(&b, 7, 2);
	pb_varint(&b, 0xffffffffu);
	buf_add(&b, "\x0a\x20", 2);
	emit_buf("bad-manifest-length-overflow", &b);
	buf_reset(&b);
	pb_tag(&b, 1, 2);
	pb_varint(&b, 1);
	buf_add(&b, "\x01", 1);
	emit_buf("bad-manifest-wire-type", &b);
	buf_reset(&b);
	buf_add(&b, "\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
	emit_buf("bad-varint-overlong", &b);
	buf_reset(&b);

	/* One ref past the count limits; empty refs keep the file small. */
	pb_header(&b, 1, 0, 1000, 0644);
	for (size_t i = 0; i <= MANIFEST_INLINE_MAX; i++)
		pb_bytes(&b, 7, "", 0);
	emit_buf("bad-manifest-too-many-chunks", &b);
	buf_reset(&b);
	for (size_t i = 0; i <= CHUNKLIST_MAX; i++)
		pb_bytes(&b, 1, "", 0);
	emit_buf("bad-chunklist-too-many", &b);
	buf_reset(&b);

	/* Garbage. */
	emit("garbage-empty", "", 0);
	memset(junk, 0xff, sizeof(junk));
	emit("garbage-ff", junk, 64);
	fill(junk, sizeof(junk), 99);
	emit("garbage-random", junk, sizeof(junk));
	buf_release(&b);
}

/* A listing record (varint length, DirEntry) built by hand, with any
 * field values: kind, target (may hold a NUL) and link NULL to leave out. */
static void pb_record(struct buf *b, const char *path, uint64_t kind, uint64_t size,
		      const char *target, size_t target_len, const char *link)
{
	struct buf e = BUF_INIT;
	pb_bytes(&e, 1, path, strlen(path));
	if (kind) {
		pb_tag(&e, 2, 0);
		pb_varint(&e, kind);
	}
	pb_tag(&e, 3, 0);
	pb_varint(&e, 0644);
	if (size) {
		pb_tag(&e, 5, 0);
		pb_varint(&e, size);
	}
	if (target)
		pb_bytes(&e, 7, target, target_len);
	if (link)
		pb_bytes(&e, 8, link, strlen(link));
	pb_varint(b, e.len);
	buf_add(b, e.data, e.len);
	buf_release(&e);
}

/* Version 2 directory manifests and listing chunks: valid ones from the
 * encoders, hostile ones by hand (a link that later entries go through,
 * absurd counts, bad targets and links, records past the caps). */
static void listing_seeds(void)
{
	struct buf b = BUF_INIT;
	struct chunk_ref data[2] = {ref_make(11, 4096), ref_make(12, 100)};
	struct chunk_ref listing[2] = {ref_make(13, 300000), ref_make(14, 77)};
	struct manifest m = {.version = MANIFEST_VERSION_LISTED,
			     .kind = MANIFEST_DIRECTORY,
			     .size = 4196,
			     .mode = 0755,
			     .mtime = 1700000000,
			     .chunks = data,
			     .nchunks = 2,
			     .listing = listing,
			     .nlisting = 2,
			     .entry_count = 1000000};
	if (manifest_encode(&m, &b))
		failures++;
	emit_buf("valid-dir-manifest-v2", &b);
	buf_reset(&b);
	struct manifest empty = {.version = MANIFEST_VERSION_LISTED, .kind = MANIFEST_DIRECTORY};
	if (manifest_encode(&empty, &b))
		failures++;
	emit_buf("valid-dir-manifest-v2-empty", &b);
	buf_reset(&b);

	/* One listing chunk with every kind, from the record encoder. */
	const struct dir_entry entries[] = {
		{.path = "a", .kind = MANIFEST_DIRECTORY, .mode = 0755},
		{.path = "a/abs", .kind = MANIFEST_SYMLINK, .mode = 0777, .target = "/etc/passwd"},
		{.path = "a/f", .kind = MANIFEST_FILE, .mode = 0644, .size = 4096},
		{.path = "a/out", .kind = MANIFEST_SYMLINK, .mode = 0777, .target = "../../x"},
		{.path = "a/pipe", .kind = MANIFEST_FIFO, .mode = 0600},
		{.path = "b", .kind = MANIFEST_HARDLINK, .mode = 0644, .link = "a/f"},
		{.path = "c", .kind = MANIFEST_FILE, .mode = 0600, .size = 100},
		{.path = "d",
		 .kind = MANIFEST_FILE,
		 .mode = 0600,
		 .size = 7,
		 .ctime_ns = 1700000000123456789,
		 .inode = 4242},
	};
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		if (manifest_record_encode(&entries[i], &b))
			failures++;
	}
	emit_buf("valid-listing-chunk", &b);
	buf_reset(&b);

	/* ctime and inode belong to file entries only: a directory with an
	 * inode (field 10) is refused. */
	{
		struct buf e = BUF_INIT;
		pb_bytes(&e, 1, "d", 1);
		pb_tag(&e, 2, 0);
		pb_varint(&e, 1);
		pb_tag(&e, 10, 0);
		pb_varint(&e, 77);
		pb_varint(&b, e.len);
		buf_add(&b, e.data, e.len);
		buf_release(&e);
	}
	emit_buf("bad-listing-inode-on-dir", &b);
	buf_reset(&b);

	/* A link, then an entry through it: each record is fine alone, the
	 * listing is not (the link is no directory). */
	pb_record(&b, "a", 2, 0, "/tmp", 4, NULL);
	pb_record(&b, "a/x", 0, 5, NULL, 0, NULL);
	emit_buf("bad-listing-link-escape", &b);
	buf_reset(&b);
	pb_record(&b, "d", 1, 0, NULL, 0, NULL);
	pb_record(&b, "d/up", 2, 0, "../..", 5, NULL);
	pb_record(&b, "d/up/x", 0, 5, NULL, 0, NULL);
	emit_buf("bad-listing-relative-link-escape", &b);
	buf_reset(&b);
	pb_record(&b, "a", 2, 0, "x\0y", 3, NULL);
	emit_buf("bad-listing-target-nul", &b);
	buf_reset(&b);
	char long_target[MANIFEST_PATH_MAX + 1];
	memset(long_target, 'x', sizeof(long_target));
	pb_record(&b, "a", 2, 0, long_target, sizeof(long_target), NULL);
	emit_buf("bad-listing-target-too-long", &b);
	buf_reset(&b);
	pb_record(&b, "a", 2, 0, NULL, 0, NULL);
	emit_buf("bad-listing-target-missing", &b);
	buf_reset(&b);
	pb_record(&b, "h", 4, 0, NULL, 0, "../etc/passwd");
	emit_buf("bad-listing-hardlink-dotdot", &b);
	buf_reset(&b);
	pb_record(&b, "h", 4, 0, NULL, 0, "h");
	emit_buf("bad-listing-hardlink-self", &b);
	buf_reset(&b);
	pb_record(&b, "k", 9, 0, NULL, 0, NULL);
	emit_buf("bad-listing-kind", &b);
	buf_reset(&b);
	pb_varint(&b, MANIFEST_RECORD_MAX + 1);
	emit_buf("bad-listing-record-too-long", &b);
	buf_reset(&b);

	/* Manifests: an absurd count, no count, inline entries in version 2, a
	 * listing in version 1, more listing chunks than allowed. */
	pb_header(&b, 2, 1, 0, 0755);
	pb_ref(&b, 11, 32, 32, 100);
	pb_tag(&b, 12, 0);
	pb_varint(&b, UINT64_MAX);
	emit_buf("bad-dir-manifest-v2-absurd-count", &b);
	buf_reset(&b);
	pb_header(&b, 2, 1, 0, 0755);
	pb_ref(&b, 11, 32, 32, 100);
	emit_buf("bad-dir-manifest-v2-no-count", &b);
	buf_reset(&b);
	pb_header(&b, 2, 1, 0, 0755);
	pb_ref(&b, 11, 32, 32, 100);
	pb_tag(&b, 12, 0);
	pb_varint(&b, 1);
	{
		struct buf e = BUF_INIT;
		pb_bytes(&e, 1, "x", 1);
		pb_bytes(&b, 9, e.data, e.len);
		buf_release(&e);
	}
	emit_buf("bad-dir-manifest-v2-inline-entries", &b);
	buf_reset(&b);
	pb_header(&b, 1, 1, 0, 0755);
	pb_ref(&b, 11, 32, 32, 100);
	pb_tag(&b, 12, 0);
	pb_varint(&b, 1);
	emit_buf("bad-dir-manifest-v1-listing", &b);
	buf_reset(&b);
	pb_header(&b, 2, 1, 0, 0755);
	for (size_t i = 0; i <= MANIFEST_LISTS_MAX; i++)
		pb_bytes(&b, 11, "", 0);
	pb_tag(&b, 12, 0);
	pb_varint(&b, MANIFEST_LISTS_MAX + 1);
	emit_buf("bad-dir-manifest-v2-too-many-listing", &b);
	buf_release(&b);
}

static void capability_seeds(void)
{
	struct capability cap;
	char text[CAPABILITY_STR_LEN + 1], edited[CAPABILITY_STR_LEN + 8];
	char name[NAME_MAX_LEN + 2];

	memset(&cap, 0, sizeof(cap));
	capability_format(&cap, text);
	emit_str("valid-cap-zero", text);
	memset(&cap, 0xff, sizeof(cap));
	capability_format(&cap, text);
	emit_str("valid-cap-ones", text);
	fill(cap.id, sizeof(cap.id), 1);
	fill(cap.key, sizeof(cap.key), 2);
	capability_format(&cap, text);
	emit_str("valid-cap-pattern", text);

	/* Variants of the pattern. */
	strcpy(edited, text);
	for (size_t i = strlen(CAPABILITY_PREFIX); edited[i]; i++) {
		if (edited[i] >= 'a' && edited[i] <= 'z')
			edited[i] = (char)(edited[i] - 'a' + 'A');
	}
	emit_str("valid-cap-upper-case", edited);
	emit("bad-cap-truncated", text, CAPABILITY_STR_LEN - 1);
	snprintf(edited, sizeof(edited), "%sa", text);
	emit_str("bad-cap-too-long", edited);
	snprintf(edited, sizeof(edited), "%s\n", text);
	emit_str("bad-cap-newline", edited);
	strcpy(edited, text);
	edited[strlen(CAPABILITY_PREFIX) + 52] = ';';
	emit_str("bad-cap-separator", edited);
	strcpy(edited, text);
	edited[20] = '1';
	emit_str("bad-cap-digit", edited);
	/* The 52nd digit of 32 bytes carries 4 padding bits that must be 0. */
	strcpy(edited, text);
	edited[strlen(CAPABILITY_PREFIX) + 51] = 'b';
	emit_str("bad-cap-padding-bits", edited);
	strcpy(edited, text);
	memcpy(edited, "SHOAL:", 6);
	emit_str("bad-cap-prefix-case", edited);
	strcpy(edited, text);
	edited[40] = '\0';
	emit("bad-cap-nul", edited, CAPABILITY_STR_LEN);
	emit_str("bad-cap-prefix-only", CAPABILITY_PREFIX);

	/* Names. */
	emit_str("valid-name-simple", "report 2024.pdf");
	emit_str("valid-name-utf8", "caf\xc3\xa9 \xe2\x80\x93 \xf0\x9f\x98\x80.txt");
	emit_str("valid-name-dots", "...");
	memset(name, 'x', sizeof(name));
	emit("valid-name-max-length", name, NAME_MAX_LEN);
	emit("bad-name-too-long", name, NAME_MAX_LEN + 1);
	emit_str("bad-name-dot", ".");
	emit_str("bad-name-dotdot", "..");
	emit_str("bad-name-slash", "../etc/passwd");
	emit_str("bad-name-control", "a\tb");
	emit_str("bad-name-spaces", " a ");
	emit_str("bad-name-overlong-utf8", "\xc0\xaf");
	emit_str("bad-name-surrogate", "a\xed\xa0\x80");
	emit_str("bad-name-past-unicode", "\xf4\x90\x80\x80");
	emit_str("bad-name-cut-utf8", "ab\xe2\x82");
	emit("garbage-empty", "", 0);
}

/* A packed CatalogEntry of the right shape (the signature is not checked
 * here: the harness exercises the log and the decoding). */
static void catlog_entry(struct buf *log, const char *name, int removed, unsigned seed)
{
	struct catalog_entry e;
	struct capability cap;
	uint8_t cert[300];
	Shoal__CatalogEntry m;

	memset(&e, 0, sizeof(e));
	e.name = (char *)name;
	e.size = 1000 + seed;
	e.time_us = 1700000000000000 + seed;
	e.removed = removed;
	if (!removed) {
		fill(cap.id, sizeof(cap.id), seed);
		fill(cap.key, sizeof(cap.key), seed + 1);
		capability_format(&cap, e.cap);
	}
	fill(cert, sizeof(cert), seed + 2);
	e.cert = cert;
	e.cert_len = sizeof(cert);
	fill(e.sig, sizeof(e.sig), seed + 3);
	catalog_entry_to_pb(&e, &m);
	size_t len = shoal__catalog_entry__get_packed_size(&m);
	uint8_t *p = malloc(len);
	if (!p)
		abort();
	shoal__catalog_entry__pack(&m, p);
	catlog_append(log, p, len);
	free(p);
}

static void catlog_seeds(void)
{
	struct buf b;
	uint8_t junk[64];

	buf_init(&b);
	buf_add(&b, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	emit_buf("valid-empty", &b);
	catlog_entry(&b, "q3-report", 0, 1);
	emit_buf("valid-one", &b);
	catlog_entry(&b, "photos", 0, 2);
	catlog_entry(&b, "q3-report", 1, 3);
	emit_buf("valid-three", &b);
	emit("bad-torn-tail", b.data, b.len - 5);
	b.data[CATLOG_MAGIC_LEN + 10] ^= 0x40;
	emit_buf("bad-flipped-bit", &b);
	b.data[CATLOG_MAGIC_LEN + 10] ^= 0x40;
	b.data[CATLOG_MAGIC_LEN] = 0x7f; /* a length no writer writes */
	emit_buf("bad-length", &b);
	b.data[0] = 'S';
	emit_buf("bad-magic", &b);
	buf_reset(&b);
	buf_add(&b, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	fill(junk, sizeof(junk), 5);
	catlog_append(&b, junk, sizeof(junk));
	emit_buf("bad-not-an-entry", &b);
	buf_release(&b);
}

/* An EnrollRequest written by hand, fields in order, zero values left out as
 * proto3 does; the key and signature cut or padded to the lengths given. */
static void pb_request(struct buf *b, const struct enroll_request *r, size_t key_len,
		       size_t sig_len)
{
	uint8_t pad[IDENTITY_SIG_LEN + 8];
	memset(pad, 0x5a, sizeof(pad));
	memcpy(pad, r->public_key, IDENTITY_KEY_LEN);
	pb_bytes(b, 1, pad, key_len);
	if (r->nickname[0])
		pb_bytes(b, 2, r->nickname, strlen(r->nickname));
	if (r->listen[0])
		pb_bytes(b, 3, r->listen, strlen(r->listen));
	if (r->time) {
		pb_tag(b, 4, 0);
		pb_varint(b, (uint64_t)r->time);
	}
	memcpy(pad, r->sig, IDENTITY_SIG_LEN);
	pb_bytes(b, 5, pad, sig_len);
}

/* Writes msg[0..len) as a PEM block called name. */
static void emit_armored(const char *file, const char *name, const void *msg, size_t len)
{
	char *text;
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio(bio, name, "", msg, (long)len) <= 0)
		abort();
	long n = BIO_get_mem_data(bio, &text);
	emit(file, text, (size_t)n);
	BIO_free(bio);
}

/* Signs r as it is, rules or not. */
static void sign_as_is(EVP_PKEY *key, struct enroll_request *r)
{
	uint8_t bytes[ENROLL_SIGNED_MAX];
	if (identity_sign(key, bytes, enroll_signed_bytes(r, bytes), r->sig))
		abort();
}

/* Emits r's text form, whatever r holds. */
static void emit_request(const char *file, const struct enroll_request *r)
{
	struct buf b = BUF_INIT;
	if (enroll_request_format(r, &b))
		abort();
	emit_buf(file, &b);
	buf_release(&b);
}

static void request_seeds(void)
{
	uint8_t seed[32], junk[ENROLL_MESSAGE_MAX + 88];
	struct enroll_request good, r;
	struct buf b = BUF_INIT, text = BUF_INIT;
	char name[64];

	fill(seed, sizeof(seed), 77);
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, sizeof(seed));
	if (!key || enroll_request_sign(key, "laptop", "127.0.0.1:7400", 1764930000, &good))
		abort();
	emit_request("valid-laptop", &good);
	if (enroll_request_sign(key, NULL, "[2001:db8::1]:7400", 1, &r))
		abort();
	emit_request("valid-no-nickname", &r);
	memset(name, 'z', NICKNAME_MAX);
	name[NICKNAME_MAX] = 0;
	char listen[ENROLL_LISTEN_MAX + 1];
	memset(listen, 'h', ENROLL_LISTEN_MAX - 5);
	memcpy(listen + ENROLL_LISTEN_MAX - 5, ":7400", 6);
	if (enroll_request_sign(key, name, listen, INT64_MAX, &r))
		abort();
	emit_request("valid-longest", &r);
	if (enroll_request_format(&good, &text))
		abort();
	/* The same text with CRLF line ends and white space around it. */
	buf_addstr(&b, "\r\n  \n");
	for (size_t i = 0; i < text.len; i++)
		buf_addstr(&b, text.data[i] == '\n' ? "\r\n" : (char[]){(char)text.data[i], 0});
	buf_addstr(&b, "\n\t\n");
	emit_buf("valid-crlf-spaced", &b);

	/* Fields changed after signing. */
	r = good;
	r.sig[3] ^= 1;
	emit_request("bad-sig-flipped", &r);
	r = good;
	r.public_key[7] ^= 0x80;
	emit_request("bad-key-flipped", &r);
	r = good;
	r.nickname[0] = 'k';
	emit_request("bad-nickname-changed", &r);
	r = good;
	r.time = 1764930001;
	emit_request("bad-time-changed", &r);
	/* Rules broken under a good signature. */
	r = good;
	strcpy(r.nickname, "Laptop");
	sign_as_is(key, &r);
	emit_request("bad-nickname-upper", &r);
	r = good;
	strcpy(r.listen, "a b:1");
	sign_as_is(key, &r);
	emit_request("bad-listen-space", &r);
	r = good;
	r.listen[0] = 0;
	sign_as_is(key, &r);
	emit_request("bad-listen-empty", &r);
	r = good;
	r.time = 0;
	sign_as_is(key, &r);
	emit_request("bad-time-zero", &r);
	/* Mis-shaped messages. */
	const struct {
		const char *file;
		size_t key_len, sig_len;
		const char *extra; /* bytes after the fields */
		size_t extra_len;
	} shapes[] = {
		{"valid-by-hand", IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, "", 0},
		{"bad-key-31", IDENTITY_KEY_LEN - 1, IDENTITY_SIG_LEN, "", 0},
		{"bad-key-33", IDENTITY_KEY_LEN + 1, IDENTITY_SIG_LEN, "", 0},
		{"bad-sig-63", IDENTITY_KEY_LEN, IDENTITY_SIG_LEN - 1, "", 0},
		{"bad-unknown-field", IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, "\x30\x01", 2},
		{"bad-repeated-nickname", IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, "\x12\x01x", 3},
		{"bad-wire-type-7", IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, "\x0f", 1},
		{"bad-overlong-varint", IDENTITY_KEY_LEN, IDENTITY_SIG_LEN, "\x20\x81\x00", 3},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		buf_reset(&b);
		pb_request(&b, &good, shapes[i].key_len, shapes[i].sig_len);
		buf_add(&b, shapes[i].extra, shapes[i].extra_len);
		emit_armored(shapes[i].file, ENROLL_PEM_NAME, b.data, b.len);
	}
	buf_reset(&b);
	pb_request(&b, &good, IDENTITY_KEY_LEN, IDENTITY_SIG_LEN);
	emit_armored("bad-truncated-message", ENROLL_PEM_NAME, b.data, b.len - 10);
	/* The armor and what is around it. */
	const char *t = buf_str(&text);
	const char *end = strstr(t, "-----END");
	buf_reset(&b);
	buf_add(&b, t, (size_t)(end - t));
	emit_buf("bad-no-end", &b);
	buf_reset(&b);
	buf_addf(&b, "my request:\n%s", t);
	emit_buf("bad-text-before", &b);
	buf_reset(&b);
	buf_addf(&b, "%sbye\n", t);
	emit_buf("bad-text-after", &b);
	buf_reset(&b);
	buf_addf(&b, "%s%s", t, t);
	emit_buf("bad-two-blocks", &b);
	buf_reset(&b);
	buf_addf(&b, "-----BEGIN SHOAL NODE REQUEST-----\nProc-Type: 4,ENCRYPTED\n%s",
		 t + strlen("-----BEGIN SHOAL NODE REQUEST-----\n"));
	emit_buf("bad-headers", &b);
	emit_str("bad-empty-block",
		 "-----BEGIN SHOAL NODE REQUEST-----\n-----END SHOAL NODE REQUEST-----\n");
	buf_reset(&b);
	buf_add(&b, t, text.len);
	b.data[40] = '*';
	emit_buf("bad-base64", &b);
	fill(junk, sizeof(junk), 78);
	emit_armored("bad-certificate-block", "CERTIFICATE", junk, 200);
	emit_armored("bad-not-a-request", ENROLL_PEM_NAME, junk, 200);
	emit_armored("bad-message-too-long", ENROLL_PEM_NAME, junk, ENROLL_MESSAGE_MAX + 1);
	buf_reset(&b);
	buf_add(&b, t, text.len);
	while (b.len <= ENROLL_TEXT_MAX)
		buf_addstr(&b, " ");
	emit_buf("bad-text-too-big", &b);
	buf_reset(&b);
	buf_add(&b, t, text.len);
	b.data[60] = 0;
	emit_buf("bad-nul", &b);
	emit("garbage-empty", "", 0);
	emit("garbage-random", junk, 300);
	buf_release(&text);
	buf_release(&b);
	EVP_PKEY_free(key);
}

/* A folder row for the seeds: a live file at path, seq seq, by member 5. */
static void folder_row(struct folder_entry *e, const char *path, uint64_t seq, unsigned seed)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->kind = FOLDER_FILE;
	e->vv.n = 2;
	e->vv.c[0] = (struct folder_counter){5, 1764843302};
	e->vv.c[1] = (struct folder_counter){9, 1764800000};
	e->modified_by = 5;
	e->has_content = 1;
	fill(e->content_id, sizeof(e->content_id), seed);
	fill(e->cap.id, sizeof(e->cap.id), seed + 1);
	fill(e->cap.key, sizeof(e->cap.key), seed + 2);
	e->size = 4096;
	e->mode = 0644;
	e->mtime_ns = 1764843302123456789;
	e->seq = seq;
}

/* Packs m signed by key as folder_batch_sign() would, whatever m holds. */
static void folder_forge(EVP_PKEY *key, Shoal__FolderBatch *m, struct buf *out)
{
	uint8_t sig[IDENTITY_SIG_LEN], hash[SHA256_LEN];
	uint8_t bytes[sizeof(FOLDER_DOMAIN) + SHA256_LEN];
	m->signature.len = 0;
	size_t n = shoal__folder_batch__get_packed_size(m);
	uint8_t *p = malloc(n + 1);
	if (!p)
		abort();
	shoal__folder_batch__pack(m, p);
	sha256(p, n, hash);
	free(p);
	memcpy(bytes, FOLDER_DOMAIN, sizeof(FOLDER_DOMAIN));
	memcpy(bytes + sizeof(FOLDER_DOMAIN), hash, SHA256_LEN);
	if (identity_sign(key, bytes, sizeof(bytes), sig))
		failures++;
	m->signature.data = sig;
	m->signature.len = IDENTITY_SIG_LEN;
	n = shoal__folder_batch__get_packed_size(m);
	buf_reset(out);
	buf_grow(out, n);
	shoal__folder_batch__pack(m, out->data);
	buf_setlen(out, n);
	m->signature.data = NULL;
	m->signature.len = 0;
}

static void folder_seeds(void)
{
	BIO *bio = BIO_new_mem_buf(folder_net_key_pem, -1);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(folder_net_cert_pem, -1);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	uint8_t *der = NULL;
	int der_len = cert ? i2d_X509(cert, &der) : -1;
	X509_free(cert);
	if (!key || der_len <= 0) {
		fprintf(stderr, "gen_corpus: the folder network does not load\n");
		failures++;
		EVP_PKEY_free(key);
		return;
	}
	struct folder_entry *rows = calloc(4, sizeof(*rows));
	if (!rows)
		abort();
	static const uint8_t zeros[SHA256_LEN];
	uint8_t hash[SHA256_LEN], hash2[SHA256_LEN];
	struct buf b = BUF_INIT;

	/* Batches as members sign them: a file, a directory and a link; the
	 * next one chained to it, a tombstone replacing a content. */
	folder_row(&rows[0], "docs/report.txt", 1, 1);
	folder_row(&rows[1], "docs", 2, 2);
	rows[1].kind = FOLDER_DIR;
	rows[1].has_content = 0;
	memset(rows[1].content_id, 0, SHA256_LEN);
	memset(&rows[1].cap, 0, sizeof(rows[1].cap));
	rows[1].mode = 0755;
	rows[2] = rows[1];
	rows[2].seq = 3;
	rows[2].kind = FOLDER_SYMLINK;
	snprintf(rows[2].path, sizeof(rows[2].path), "docs/latest");
	snprintf(rows[2].target, sizeof(rows[2].target), "report.txt");
	if (folder_batch_sign(folder_net_id, key, der, (size_t)der_len, 1, zeros, 1764843302000000,
			      rows, 3, &b, hash))
		failures++;
	emit_buf("valid-batch-three", &b);
	struct buf good = BUF_INIT;
	buf_add(&good, b.data, b.len);
	folder_row(&rows[3], "docs/report.txt", 4, 3);
	rows[3].deleted = 1;
	rows[3].has_prev = 1;
	memcpy(rows[3].prev_content_id, rows[0].content_id, SHA256_LEN);
	rows[3].vv.c[0].value++;
	if (folder_batch_sign(folder_net_id, key, der, (size_t)der_len, 1, hash, 1764843303000000,
			      rows + 3, 1, &b, hash2))
		failures++;
	emit_buf("valid-batch-chained-tombstone", &b);
	/* A journal of the two, and a pointer under the fuzzer's fixed folder
	 * key (fuzz_folder.c's check_journal()). */
	struct buf journal = BUF_INIT;
	folderjournal_add(&journal, good.data, good.len);
	folderjournal_add(&journal, b.data, b.len);
	emit_buf("valid-journal-two", &journal);
	journal.len -= 3;
	emit_buf("bad-journal-cut", &journal);
	buf_release(&journal);
	struct folder_invite jinv = {.label = "fuzz"};
	memset(jinv.id, 7, sizeof(jinv.id));
	memset(jinv.secret, 9, sizeof(jinv.secret));
	struct folder_keys jkeys;
	folder_keys_derive(&jinv, &jkeys);
	struct folderjournal_pointer jp = {.size = 4096, .index_id = 3, .last_seq = 4};
	memset(&jp.journal, 0x5a, sizeof(jp.journal));
	struct buf pointer = BUF_INIT;
	if (folderjournal_pointer_seal(&jkeys, &jp, &pointer))
		failures++;
	emit_buf("valid-journal-pointer", &pointer);
	buf_release(&pointer);
	/* Tampered with, cut, a byte more. */
	buf_reset(&b);
	buf_add(&b, good.data, good.len);
	b.data[b.len - 1] ^= 1;
	emit_buf("bad-batch-signature", &b);
	b.data[b.len - 1] ^= 1;
	b.data[b.len / 2] ^= 0x20;
	emit_buf("bad-batch-flipped", &b);
	emit("bad-batch-truncated", good.data, good.len - 30);
	buf_reset(&b);
	buf_add(&b, good.data, good.len);
	buf_add(&b, "\x00", 1);
	emit_buf("bad-batch-extra-byte", &b);
	/* Rules broken under a good signature. */
	Shoal__FolderEntry pe[3];
	Shoal__FolderEntry *pp[3];
	struct folder_entry_pb *store = calloc(3, sizeof(*store));
	if (!store)
		abort();
	for (size_t i = 0; i < 3; i++) {
		folder_entry_to_pb(&rows[i], &pe[i], &store[i]);
		pp[i] = &pe[i];
	}
	Shoal__FolderBatch m = SHOAL__FOLDER_BATCH__INIT;
	m.folder_id.data = (uint8_t *)folder_net_id;
	m.folder_id.len = FOLDER_ID_LEN;
	m.author_cert.data = der;
	m.author_cert.len = (size_t)der_len;
	m.index_id = 1;
	m.prev_hash.data = (uint8_t *)zeros;
	m.prev_hash.len = SHA256_LEN;
	m.time = 1764843302000000;
	m.entries = pp;
	m.n_entries = 3;
	folder_forge(key, &m, &b); /* the forger itself is sound */
	if (b.len != good.len || memcmp(b.data, good.data, b.len)) {
		fprintf(stderr, "gen_corpus: a batch by hand is not the signed one\n");
		failures++;
	}
	pe[2].seq = 5;
	folder_forge(key, &m, &b);
	emit_buf("bad-batch-seq-gap", &b);
	pe[2].seq = 3;
	pe[1].path = "docs/../..";
	folder_forge(key, &m, &b);
	emit_buf("bad-batch-row-path", &b);
	pe[1].path = rows[1].path;
	pe[0].mode = 04755;
	folder_forge(key, &m, &b);
	emit_buf("bad-batch-row-mode", &b);
	pe[0].mode = 0644;
	m.n_entries = 0;
	folder_forge(key, &m, &b);
	emit_buf("bad-batch-no-rows", &b);
	m.n_entries = 3;
	m.prev_hash.len = 31;
	folder_forge(key, &m, &b);
	emit_buf("bad-batch-prev-hash-31", &b);
	m.prev_hash.len = SHA256_LEN;
	uint8_t other[FOLDER_ID_LEN];
	memcpy(other, folder_net_id, FOLDER_ID_LEN);
	other[0] ^= 1;
	m.folder_id.data = other;
	folder_forge(key, &m, &b);
	emit_buf("bad-batch-other-folder", &b);

	/* Invites and folder ids. */
	struct folder_invite inv;
	char text[FOLDER_INVITE_MAX];
	memset(&inv, 0, sizeof(inv));
	memcpy(inv.id, folder_net_id, FOLDER_ID_LEN);
	fill(inv.secret, sizeof(inv.secret), 40);
	snprintf(inv.label, sizeof(inv.label), "team docs");
	folder_invite_format(&inv, text);
	emit_str("valid-invite", text);
	for (char *p = text + strlen(FOLDER_INVITE_PREFIX); *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	emit_str("valid-invite-upper", text);
	inv.label[0] = 0;
	folder_invite_format(&inv, text);
	emit_str("valid-invite-no-label", text);
	text[0] = 'S';
	emit_str("bad-invite-prefix", text);
	snprintf(inv.label, sizeof(inv.label), "a/b");
	folder_invite_format(&inv, text);
	emit_str("bad-invite-label-slash", text);
	char id_text[FOLDER_ID_STR_LEN + 1];
	folder_id_format(folder_net_id, id_text);
	emit_str("valid-folder-id", id_text);

	/* Version vectors as the index stores them. */
	uint8_t vv_bytes[16 * FOLDER_VV_MAX];
	size_t n = folder_vv_encode(&rows[0].vv, vv_bytes);
	emit("valid-vv-two", vv_bytes, n);
	emit("bad-vv-15", vv_bytes, 15);
	uint8_t swapped[32];
	memcpy(swapped, vv_bytes + 16, 16);
	memcpy(swapped + 16, vv_bytes, 16);
	emit("bad-vv-unsorted", swapped, sizeof(swapped));
	memset(vv_bytes + 8, 0, 8);
	emit("bad-vv-zero", vv_bytes, n);
	emit("garbage-empty", "", 0);

	free(store);
	free(rows);
	buf_release(&b);
	buf_release(&good);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr,
			"usage: %s MANIFEST_DIR CAPABILITY_DIR CATLOG_DIR REQUEST_DIR FOLDER_DIR\n",
			argv[0]);
		return 2;
	}
	out_dir = argv[1];
	mkdir(out_dir, 0777);
	manifest_seeds();
	listing_seeds();
	out_dir = argv[2];
	mkdir(out_dir, 0777);
	capability_seeds();
	out_dir = argv[3];
	mkdir(out_dir, 0777);
	catlog_seeds();
	out_dir = argv[4];
	mkdir(out_dir, 0777);
	request_seeds();
	out_dir = argv[5];
	mkdir(out_dir, 0777);
	folder_seeds();
	return failures ? 1 : 0;
}
