/*
 * Network addresses as people and peers write them: "HOST:PORT" with a
 * numeric port (0..65535), the host a name, an IPv4 address or "[IPv6]". Lists
 * are comma-separated. Used for flags, the config file and peer exchange, so
 * the checks are strict: no spaces, no control bytes, bounded lengths.
 */
#ifndef SHOAL_NET_ADDR_H
#define SHOAL_NET_ADDR_H

#define ADDR_MAX      256  /* bytes of one address, NUL included */
#define ADDR_LIST_MAX 4096 /* bytes of a list, NUL included */

/* Checks one address. 0 or SHOAL_EPROTO. */
int addr_check(const char *addr);
/* Checks a non-empty comma-separated list (an empty string is also fine). */
int addr_check_list(const char *list);

struct sockaddr_storage;
/* Parses a numeric "IP:PORT" or "[IPv6]:PORT" (port 0 allowed: the kernel
 * picks one) into ss. 0 or SHOAL_EPROTO. */
int addr_parse_numeric(const char *addr, struct sockaddr_storage *ss, int *len);

#endif
