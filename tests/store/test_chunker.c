/*
 * Tests for the content-defined chunker (src/store/chunker.c): feeding data in pieces gives
 * the same chunks as feeding it at once (even split a byte before a cut), a resumed scan
 * does not reread what it examined, sizes stay in [CHUNK_MIN, CHUNK_MAX], boundaries
 * follow content (a shifted region cuts at the shifted offsets, a one-byte edit changes at
 * most three chunks), zeros cut at CHUNK_MAX, the average size is near CHUNK_AVG, short
 * inputs at eof, and a golden list of boundaries that pins the gear table and masks forever.
 * All data comes from a seeded xorshift generator, so every run sees the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/chunker.h"

#define MIB ((size_t)1024 * 1024)

struct chunk_ref {
	size_t off;
	size_t len;
	uint64_t hash; /* FNV-1a of the chunk's bytes */
};

struct chunk_list {
	struct chunk_ref *v;
	size_t n;
	size_t cap;
};

/* xorshift64*: small, seeded, reproducible. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed ? seed : 1;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x = rng_next(&s);
		memcpy(p + i, &x, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)rng_next(&s);
}

static uint8_t *random_data(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	fill_random(p, n, seed);
	return p;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static void list_add(struct chunk_list *l, const uint8_t *data, size_t off, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n].off = off;
	l->v[l->n].len = len;
	l->v[l->n].hash = fnv1a(data + off, len);
	l->n++;
}

static void list_release(struct chunk_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Chunks data[0..len) with all of it available and eof set. */
static void chunk_whole(const uint8_t *data, size_t len, struct chunk_list *out)
{
	struct chunker c;
	size_t off = 0;

	for (;;) {
		size_t cut;

		chunker_reset(&c);
		cut = chunker_find(&c, data + off, len - off, 1);
		if (!cut)
			break;
		assert_true(cut <= len - off);
		list_add(out, data, off, cut);
		off += cut;
	}
	assert_int_equal(off, len);
}

/*
 * Chunks data[0..len) as a reader would: the current chunk's bytes live in a window buffer
 * that grows by random-sized appends (often a few bytes, sometimes up to 1 MiB). The window
 * is reallocated to its exact size on every append, so the chunker sees a fresh copy of the
 * same bytes each call, and the sanitizer catches any read past n.
 */
static void chunk_pieces(const uint8_t *data, size_t len, uint64_t seed, struct chunk_list *out)
{
	struct chunker c;
	uint8_t *window = NULL;
	size_t start = 0; /* offset in data of window[0], the current chunk's start */
	size_t avail = 0; /* data[start..avail) is in the window */
	uint64_t s = seed;

	chunker_reset(&c);
	for (;;) {
		int eof = avail == len;
		size_t have = avail - start;
		size_t cut = chunker_find(&c, window, have, eof);

		if (cut) {
			assert_true(cut <= have);
			list_add(out, data, start, cut);
			start += cut;
			memmove(window, window + cut, avail - start);
			/* Shrink to fit, so the sanitizer sees reads past n here too. */
			if (avail == start) {
				free(window);
				window = NULL;
			} else {
				window = realloc(window, avail - start);
				assert_non_null(window);
			}
			chunker_reset(&c);
			continue;
		}
		if (eof) {
			assert_int_equal(have, 0);
			break;
		}
		/* A cut is due once the chunk holds CHUNK_MAX bytes. */
		assert_true(have < CHUNK_MAX);
		size_t piece =
			rng_next(&s) % 4 == 0 ? 1 + rng_next(&s) % 100 : 1 + rng_next(&s) % MIB;
		if (piece > len - avail)
			piece = len - avail;
		window = realloc(window, have + piece);
		assert_non_null(window);
		memcpy(window + have, data + avail, piece);
		avail += piece;
	}
	free(window);
	assert_int_equal(start, len);
}

static void assert_lists_equal(const struct chunk_list *a, const struct chunk_list *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].off, b->v[i].off);
		assert_int_equal(a->v[i].len, b->v[i].len);
		assert_int_equal(a->v[i].hash, b->v[i].hash);
	}
}

/* Checks that l tiles [0, len) and that every chunk but the last is in [MIN, MAX]. */
static void assert_sizes_valid(const struct chunk_list *l, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(l->v[i].off, off);
		assert_true(l->v[i].len > 0);
		assert_true(l->v[i].len <= CHUNK_MAX);
		if (i + 1 < l->n)
			assert_true(l->v[i].len >= CHUNK_MIN);
		off += l->v[i].len;
	}
	assert_int_equal(off, len);
}

/* Random blocks separated by zero runs long enough to force CHUNK_MAX cuts. */
static uint8_t *mixed_data(size_t len, uint64_t seed)
{
	uint8_t *p = calloc(len, 1);
	uint64_t s = seed;
	size_t off = 0;

	assert_non_null(p);
	while (off < len) {
		size_t run = rng_next(&s) % (6 * MIB);
		if (run > len - off)
			run = len - off;
		if (rng_next(&s) % 2)
			fill_random(p + off, run, rng_next(&s));
		off += run;
	}
	return p;
}

static void test_eof_short_input(void **state)
{
	struct chunker c;
	uint8_t *data = random_data(CHUNK_MIN, 11);

	(void)state;
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, data, 0, 1), 0);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, data, 0, 0), 0);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, data, 1, 1), 1);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, data, CHUNK_MIN - 1, 0), 0);
	assert_int_equal(chunker_find(&c, data, CHUNK_MIN - 1, 1), CHUNK_MIN - 1);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, data, 1000, 0), 0);
	assert_int_equal(chunker_find(&c, data, 1000, 0), 0);
	assert_int_equal(chunker_find(&c, data, 1000, 1), 1000);
	/* No content cut can end before byte CHUNK_MIN + 1: hashing starts there. */
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, data, CHUNK_MIN, 0), 0);
	assert_int_equal(chunker_find(&c, data, CHUNK_MIN, 1), CHUNK_MIN);
	free(data);
}

static void test_max_without_eof(void **state)
{
	struct chunker c;
	uint8_t *zeros = calloc(CHUNK_MAX + 100, 1);

	(void)state;
	assert_non_null(zeros);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, zeros, CHUNK_MAX - 1, 0), 0);
	assert_int_equal(chunker_find(&c, zeros, CHUNK_MAX, 0), CHUNK_MAX);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, zeros, CHUNK_MAX + 100, 0), CHUNK_MAX);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, zeros, CHUNK_MAX + 100, 1), CHUNK_MAX);
	free(zeros);
}

static void test_zeros_cut_at_max(void **state)
{
	size_t len = 10 * MIB;
	uint8_t *zeros = calloc(len, 1);
	struct chunk_list whole = {0}, pieces = {0};

	(void)state;
	assert_non_null(zeros);
	chunk_whole(zeros, len, &whole);
	assert_int_equal(whole.n, 3);
	assert_int_equal(whole.v[0].len, CHUNK_MAX);
	assert_int_equal(whole.v[1].len, CHUNK_MAX);
	assert_int_equal(whole.v[2].len, len - 2 * CHUNK_MAX);
	chunk_pieces(zeros, len, 5, &pieces);
	assert_lists_equal(&whole, &pieces);
	list_release(&whole);
	list_release(&pieces);
	free(zeros);
}

static void test_pieces_equal_whole(void **state)
{
	size_t len = 24 * MIB + 12345;
	uint8_t *random = random_data(len, 21);
	uint8_t *mixed = mixed_data(len, 22);

	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		const uint8_t *data = seed == 3 ? mixed : random;
		struct chunk_list whole = {0}, pieces = {0};

		chunk_whole(data, len, &whole);
		chunk_pieces(data, len, seed * 1000003, &pieces);
		assert_true(whole.n > 5);
		assert_lists_equal(&whole, &pieces);
		list_release(&whole);
		list_release(&pieces);
	}
	free(random);
	free(mixed);
}

/*
 * Bytes already examined are not read again: before the second call the pages holding them
 * are made unreadable, so a chunker that rescanned from the start would crash.
 */
static void test_resume_does_not_rescan(void **state)
{
	size_t len = 8 * MIB;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *data = random_data(len, 31);
	uint8_t *mapped;
	struct chunker c;
	size_t first, half, hidden;

	(void)state;
	chunker_reset(&c);
	first = chunker_find(&c, data, len, 1);
	assert_true(first > CHUNK_MIN + 2 * page);
	half = CHUNK_MIN + (first - CHUNK_MIN) / 2;
	hidden = half / page * page;

	mapped = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mapped != MAP_FAILED);
	memcpy(mapped, data, len);
	chunker_reset(&c);
	assert_int_equal(chunker_find(&c, mapped, half, 0), 0);
	assert_int_equal(c.scanned, half);
	assert_int_equal(mprotect(mapped, hidden, PROT_NONE), 0);
	assert_int_equal(chunker_find(&c, mapped, len, 1), first);
	munmap(mapped, len);
	free(data);
}

/*
 * Splits each chunk's bytes just before its content cut, where the cut depends on the
 * fingerprint carried over from the previous call, and also feeds the last bytes before the
 * cut one call per byte.
 */
static void test_split_near_cut(void **state)
{
	static const size_t backs[] = {1, 2, 10, 62, 63, 64, 100, 4096};
	size_t len = 24 * MIB;
	uint8_t *data = random_data(len, 81);
	struct chunk_list l = {0};
	size_t content_cuts = 0;

	(void)state;
	chunk_whole(data, len, &l);
	for (size_t i = 0; i + 1 < l.n; i++) {
		const uint8_t *p = data + l.v[i].off;
		size_t cut = l.v[i].len, rest = len - l.v[i].off;
		struct chunker c;

		if (cut == CHUNK_MAX || cut < CHUNK_MIN + 4096)
			continue;
		content_cuts++;
		for (size_t k = 0; k < sizeof(backs) / sizeof(backs[0]); k++) {
			chunker_reset(&c);
			assert_int_equal(chunker_find(&c, p, cut - backs[k], 0), 0);
			assert_int_equal(chunker_find(&c, p, rest, 1), cut);
		}
		chunker_reset(&c);
		for (size_t n = cut - 70; n < cut; n++)
			assert_int_equal(chunker_find(&c, p, n, 0), 0);
		assert_int_equal(chunker_find(&c, p, cut, 0), cut);
	}
	assert_true(content_cuts >= 10);
	list_release(&l);
	free(data);
}

/*
 * Hashing starts afresh at byte CHUNK_MIN of every chunk. These byte strings, found by
 * search, make the gear hash started from zero cut right after them, so a chunk holding one
 * at CHUNK_MIN ends there, whatever the chunker did before its reset.
 */
static void test_reset_forgets_previous_chunk(void **state)
{
	static const uint8_t short_cut[] = {0xcc, 0xab, 0x83};
	static const uint8_t long_cut[] = {0x79, 0xdf, 0x22, 0x10, 0xf7, 0x88, 0x03, 0xda, 0xbe,
					   0x1f, 0x6b, 0xd1, 0x49, 0x7c, 0x12, 0x1f, 0x89};
	static const struct {
		const uint8_t *bytes;
		size_t len;
	} cuts[] = {{short_cut, sizeof(short_cut)}, {long_cut, sizeof(long_cut)}};
	size_t len = CHUNK_MIN + MIB;
	uint8_t *data = random_data(len, 91);
	uint8_t *other = random_data(3 * MIB, 92);
	struct chunker c;

	(void)state;
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		memcpy(data + CHUNK_MIN, cuts[k].bytes, cuts[k].len);
		chunker_reset(&c);
		assert_int_equal(chunker_find(&c, data, len, 1), CHUNK_MIN + cuts[k].len);
		/* Leave state behind on other data, then reset and cut again. */
		chunker_reset(&c);
		assert_int_equal(chunker_find(&c, other, CHUNK_AVG + 12345, 0), 0);
		chunker_reset(&c);
		assert_int_equal(chunker_find(&c, data, len, 0), CHUNK_MIN + cuts[k].len);
	}
	free(other);
	free(data);
}

static void test_sizes_in_bounds(void **state)
{
	size_t len = 64 * MIB + 777;
	uint8_t *random = random_data(len, 41);
	uint8_t *mixed = mixed_data(len, 42);
	struct chunk_list a = {0}, b = {0};
	size_t at_max = 0;

	(void)state;
	chunk_whole(random, len, &a);
	assert_sizes_valid(&a, len);
	chunk_whole(mixed, len, &b);
	assert_sizes_valid(&b, len);
	/* The mixed data must exercise the forced cut too. */
	for (size_t i = 0; i < b.n; i++)
		at_max += b.v[i].len == CHUNK_MAX;
	assert_true(at_max >= 2);
	list_release(&a);
	list_release(&b);
	free(random);
	free(mixed);
}

static void test_average_size(void **state)
{
	size_t len = 64 * MIB;
	uint8_t *data = random_data(len, 51);
	struct chunk_list l = {0};
	double avg;

	(void)state;
	chunk_whole(data, len, &l);
	assert_true(l.n >= 2);
	/* The last chunk is cut by eof, not content: leave it out. */
	avg = (double)(len - l.v[l.n - 1].len) / (double)(l.n - 1);
	print_message("average chunk %.0f KiB over %zu chunks\n", avg / 1024, l.n);
	assert_true(avg >= 0.5 * (double)CHUNK_AVG);
	assert_true(avg <= 2.0 * (double)CHUNK_AVG);
	list_release(&l);
	free(data);
}

/* Whether some chunk in l ends at offset end. */
static int has_boundary(const struct chunk_list *l, size_t end)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].off + l->v[i].len == end)
			return 1;
	return 0;
}

static void test_shifted_region_cuts_same(void **state)
{
	static const size_t prefixes[] = {1, 63, 4097, 777777, 3 * MIB + 5};
	size_t region_len = 32 * MIB;
	size_t max_prefix = 3 * MIB + 5;
	uint8_t *buf = malloc(max_prefix + region_len);
	uint8_t *region = random_data(region_len, 61);
	struct chunk_list alone = {0};

	(void)state;
	assert_non_null(buf);
	chunk_whole(region, region_len, &alone);
	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		size_t plen = prefixes[k];
		struct chunk_list shifted = {0};
		size_t i, j;

		fill_random(buf, plen, 62 + k);
		memcpy(buf + plen, region, region_len);
		chunk_whole(buf, plen + region_len, &shifted);

		/* The first boundary inside the region that the region alone also has. */
		for (i = 0; i < shifted.n; i++) {
			size_t end = shifted.v[i].off + shifted.v[i].len;
			if (end > plen && has_boundary(&alone, end - plen))
				break;
		}
		assert_true(i < shifted.n);
		/* Resync comes within a couple of chunks, far before the region's end. */
		assert_true(shifted.v[i].off + shifted.v[i].len - plen < 3 * CHUNK_MAX);
		for (j = 0; j < alone.n; j++)
			if (alone.v[j].off + alone.v[j].len ==
			    shifted.v[i].off + shifted.v[i].len - plen)
				break;
		/* From there on every chunk is the same chunk, shifted by plen. */
		assert_int_equal(shifted.n - i, alone.n - j);
		for (i++, j++; i < shifted.n; i++, j++) {
			assert_int_equal(shifted.v[i].off, alone.v[j].off + plen);
			assert_int_equal(shifted.v[i].len, alone.v[j].len);
			assert_int_equal(shifted.v[i].hash, alone.v[j].hash);
		}
		list_release(&shifted);
	}
	list_release(&alone);
	free(region);
	free(buf);
}

/* How many chunks of b do not appear in a with the same offset, length and hash. */
static size_t count_new_chunks(const struct chunk_list *a, const struct chunk_list *b)
{
	size_t fresh = 0;

	for (size_t i = 0; i < b->n; i++) {
		size_t j;

		for (j = 0; j < a->n; j++)
			if (a->v[j].off == b->v[i].off && a->v[j].len == b->v[i].len &&
			    a->v[j].hash == b->v[i].hash)
				break;
		fresh += j == a->n;
	}
	return fresh;
}

static void test_one_byte_edit(void **state)
{
	size_t len = 32 * MIB;
	uint8_t *data = random_data(len, 71);
	struct chunk_list orig = {0};
	size_t where[4] = {len / 2, len / 2 + 12345, 0, 0};

	(void)state;
	chunk_whole(data, len, &orig);
	/* Also edit the last byte of a middle chunk and the first byte of the next one. */
	for (size_t i = 0; i < orig.n; i++) {
		if (orig.v[i].off >= len / 2) {
			where[2] = orig.v[i].off - 1;
			where[3] = orig.v[i].off;
			break;
		}
	}
	assert_true(where[2] > 0);
	for (size_t k = 0; k < 4; k++) {
		struct chunk_list edited = {0};
		size_t fresh;

		data[where[k]] ^= 0x5a;
		chunk_whole(data, len, &edited);
		data[where[k]] ^= 0x5a;
		fresh = count_new_chunks(&orig, &edited);
		/* The edited chunk must differ; at most three may. */
		assert_true(fresh >= 1);
		assert_true(fresh <= 3);
		assert_true(count_new_chunks(&edited, &orig) <= 3);
		list_release(&edited);
	}
	list_release(&orig);
	free(data);
}

/*
 * Boundaries are part of the storage format: the same bytes must cut at the same offsets on
 * every node and every version, or deduplication is lost. These ends were recorded from
 * this implementation; if this test fails, the gear table, the masks or the scan changed.
 */
static void test_golden_boundaries(void **state)
{
	static const size_t golden[] = {1294341,  2220519,  4248175,  4612739,	5782746,
					7269352,  8712615,  9812843,  11343790, 12724388,
					13853628, 15037400, 16250983, 16777216};
	size_t len = 16 * MIB;
	uint8_t *data = random_data(len, 0x5348);
	struct chunk_list l = {0};

	(void)state;
	chunk_whole(data, len, &l);
	assert_int_equal(l.n, sizeof(golden) / sizeof(golden[0]));
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.v[i].off + l.v[i].len, golden[i]);
	list_release(&l);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eof_short_input),
		cmocka_unit_test(test_max_without_eof),
		cmocka_unit_test(test_zeros_cut_at_max),
		cmocka_unit_test(test_pieces_equal_whole),
		cmocka_unit_test(test_resume_does_not_rescan),
		cmocka_unit_test(test_split_near_cut),
		cmocka_unit_test(test_reset_forgets_previous_chunk),
		cmocka_unit_test(test_sizes_in_bounds),
		cmocka_unit_test(test_average_size),
		cmocka_unit_test(test_shifted_region_cuts_same),
		cmocka_unit_test(test_one_byte_edit),
		cmocka_unit_test(test_golden_boundaries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
