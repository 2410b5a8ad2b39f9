/*
 * Chunker throughput: cuts 1 GiB of pseudo-random data into content-defined chunks and
 * prints MB/s (10^6 bytes per second). The data is generated 64 MiB at a time into one
 * reused buffer, each pass with a new seed, and only the chunking is timed. Each pass is
 * chunked as a file that ends at the buffer's end, with all its bytes available, as the
 * reader thread sees them once a read has filled its buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/chunker.h"

#define BUFFER_LEN ((size_t)64 * 1024 * 1024)
#define TOTAL_LEN  ((size_t)1024 * 1024 * 1024)

/* xorshift64: fast enough that generating the data is not what we wait for. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(p + i, &s, 8);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	uint8_t *buffer = malloc(BUFFER_LEN);
	size_t chunks = 0;
	double seconds = 0;

	if (!buffer) {
		fprintf(stderr, "bench_chunker: out of memory\n");
		return 1;
	}
	for (size_t pass = 0; pass < TOTAL_LEN / BUFFER_LEN; pass++) {
		struct chunker c;
		size_t off = 0;
		double start;

		fill_random(buffer, BUFFER_LEN, 0x9e3779b97f4a7c15 + pass);
		start = now();
		while (off < BUFFER_LEN) {
			chunker_reset(&c);
			off += chunker_find(&c, buffer + off, BUFFER_LEN - off, 1);
			chunks++;
		}
		seconds += now() - start;
	}
	printf("chunker: %zu MiB in %.3f s, %.0f MB/s, %zu chunks, average %.0f KiB\n",
	       TOTAL_LEN >> 20, seconds, (double)TOTAL_LEN / seconds / 1e6, chunks,
	       (double)TOTAL_LEN / (double)chunks / 1024);
	free(buffer);
	return 0;
}
