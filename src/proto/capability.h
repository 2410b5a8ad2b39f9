/*
 * Capabilities: "shoal:<manifest id>:<key>", both parts base32 (52 characters
 * each for 32 bytes). Holding one is all it takes to read a file: the id names
 * the encrypted manifest chunk, the key decrypts it.
 */
#ifndef SHOAL_PROTO_CAPABILITY_H
#define SHOAL_PROTO_CAPABILITY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"

#define CAPABILITY_PREFIX "shoal:"
/* Length of the text form, without NUL: "shoal:" + 52 + ":" + 52. */
#define CAPABILITY_STR_LEN 111

struct capability {
	uint8_t id[CHUNK_ID_LEN];
	uint8_t key[CHUNK_KEY_LEN];
};

/* Writes the text form and a NUL into out. */
void capability_format(const struct capability *cap, char out[CAPABILITY_STR_LEN + 1]);

/*
 * Parses s (the text form; surrounding white space is not accepted). The
 * base32 parts may be given in either case (people retype them), so compare
 * capabilities by value, not by text; capability_format() always writes
 * lowercase.
 * Returns 0, or SHOAL_EBADCAP for a wrong prefix, wrong length, bad base32 or
 * missing separator; cap is untouched on error.
 */
int capability_parse(struct capability *cap, const char *s);

/* Returns non-zero when s starts like a capability (so a CLI argument is meant
 * as one rather than as a name). */
int capability_looks_like(const char *s);

#endif
