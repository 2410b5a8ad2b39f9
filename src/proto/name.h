/*
 * Names: what people call stored files (`put --name`, `get NAME`, `rm NAME`),
 * and later the entries of directories and of the network catalog. A valid
 * name is 1..NAME_MAX_LEN bytes of valid UTF-8 without '/', control bytes
 * (0x00-0x1f, 0x7f) or a leading/trailing space, and is not "." or "..". The
 * same rule protects the file system when a name becomes a path.
 */
#ifndef SHOAL_PROTO_NAME_H
#define SHOAL_PROTO_NAME_H

#include <stddef.h>

#define NAME_MAX_LEN 255

/* Returns 0 when s[0..n) is a valid name, else SHOAL_EBADNAME. */
int name_validate(const char *s, size_t n);

#endif
