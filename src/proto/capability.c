/*
 * Capability text form; see capability.h.
 */
#include "proto/capability.h"

#include <string.h>

#include "util/encoding.h"
#include "util/error.h"

#define PREFIX_LEN   (sizeof(CAPABILITY_PREFIX) - 1)
#define ID_TEXT_LEN  52
#define KEY_TEXT_LEN 52

_Static_assert(PREFIX_LEN + ID_TEXT_LEN + 1 + KEY_TEXT_LEN == CAPABILITY_STR_LEN,
	       "capability length");

void capability_format(const struct capability *cap, char out[CAPABILITY_STR_LEN + 1])
{
	memcpy(out, CAPABILITY_PREFIX, PREFIX_LEN);
	base32_encode(out + PREFIX_LEN, cap->id, sizeof(cap->id));
	out[PREFIX_LEN + ID_TEXT_LEN] = ':';
	base32_encode(out + PREFIX_LEN + ID_TEXT_LEN + 1, cap->key, sizeof(cap->key));
}

int capability_looks_like(const char *s)
{
	return strncmp(s, CAPABILITY_PREFIX, PREFIX_LEN) == 0;
}

int capability_parse(struct capability *cap, const char *s)
{
	struct capability parsed;
	if (!capability_looks_like(s))
		return SHOAL_EBADCAP;
	if (strnlen(s, CAPABILITY_STR_LEN + 1) != CAPABILITY_STR_LEN)
		return SHOAL_EBADCAP;
	const char *id = s + PREFIX_LEN;
	const char *key = id + ID_TEXT_LEN + 1;
	if (id[ID_TEXT_LEN] != ':')
		return SHOAL_EBADCAP;
	if (base32_decode(parsed.id, sizeof(parsed.id), id, ID_TEXT_LEN) ||
	    base32_decode(parsed.key, sizeof(parsed.key), key, KEY_TEXT_LEN))
		return SHOAL_EBADCAP;
	*cap = parsed;
	return 0;
}
