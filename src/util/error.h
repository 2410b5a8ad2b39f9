/*
 * Shoal's error codes. Every fallible function returns 0 or a negative code:
 * either -errno (for system failures) or one of the SHOAL_E* codes below, which
 * live in one table so that every code has exactly one message.
 */
#ifndef SHOAL_UTIL_ERROR_H
#define SHOAL_UTIL_ERROR_H

/* X(name, message): project error codes, numbered from SHOAL_EBASE downwards. */
#define SHOAL_ERROR_MAP(X)                                           \
	X(CORRUPT, "stored data is corrupt (hash mismatch)")         \
	X(PROTO, "malformed or invalid message")                     \
	X(BADCAP, "malformed capability")                            \
	X(BADNAME, "invalid name")                                   \
	X(NOTFOUND, "not found")                                     \
	X(TOOBIG, "size limit exceeded")                             \
	X(CRYPTO, "cryptographic operation failed")                  \
	X(DECRYPT, "decryption failed (wrong key or tampered data)") \
	X(DB, "index database error")                                \
	X(VERSION, "unsupported format or protocol version")         \
	X(CONFIG, "invalid configuration")                           \
	X(IDENTITY, "invalid or missing identity")                   \
	X(EXIST, "already exists")                                   \
	X(USAGE, "invalid usage")                                    \
	X(MISSING, "chunk missing from the store")                   \
	X(UNREACHABLE, "no reachable node has it")                   \
	X(REPLICAS, "too few nodes took a copy")                     \
	X(AMBIGUOUS, "ambiguous name")                               \
	X(EXPOSED, "open to other users")

/* Project codes sit below every errno value: SHOAL_EBASE - 1, - 2, ... */
enum { SHOAL_EBASE = -1000 };

#define SHOAL__ERROR_CODE(name, msg) SHOAL__IDX_##name,
enum { SHOAL_ERROR_MAP(SHOAL__ERROR_CODE) SHOAL__NERRORS };
#undef SHOAL__ERROR_CODE

#define SHOAL__ERROR_VALUE(name, msg) SHOAL_E##name = SHOAL_EBASE - 1 - SHOAL__IDX_##name,
enum { SHOAL_ERROR_MAP(SHOAL__ERROR_VALUE) };
#undef SHOAL__ERROR_VALUE

/*
 * Returns a static, human-readable message for err: a SHOAL_E* code, a negative
 * errno value, or 0 ("success"). Never returns NULL.
 */
const char *shoal_strerror(int err);

#endif
