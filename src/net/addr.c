/*
 * Network addresses as text; see addr.h.
 */
#include "net/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#include <event2/util.h>
#include <netinet/in.h>
#include <sys/socket.h>

int addr_check(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || strlen(addr) >= ADDR_MAX)
		return SHOAL_EPROTO;
	if (addr[0] == '[' && colon[-1] != ']')
		return SHOAL_EPROTO;
	for (const char *p = addr; p < colon; p++) {
		if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
			return SHOAL_EPROTO;
	}
	const char *port = colon + 1;
	if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
		return SHOAL_EPROTO;
	return atoi(port) <= 65535 ? 0 : SHOAL_EPROTO;
}

int addr_check_list(const char *list)
{
	if (!*list)
		return 0;
	if (strlen(list) >= ADDR_LIST_MAX)
		return SHOAL_EPROTO;
	char copy[ADDR_LIST_MAX];
	snprintf(copy, sizeof(copy), "%s", list);
	char *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		if (addr_check(tok))
			return SHOAL_EPROTO;
	}
	return n ? 0 : SHOAL_EPROTO;
}

int addr_parse_numeric(const char *addr, struct sockaddr_storage *ss, int *len)
{
	if (addr_check(addr))
		return SHOAL_EPROTO;
	const char *colon = strrchr(addr, ':');
	int port = atoi(colon + 1);
	/* libevent's parser refuses port 0; parse with a stand-in, then fix. */
	char copy[ADDR_MAX];
	snprintf(copy, sizeof(copy), "%.*s:1", (int)(colon - addr), addr);
	*len = (int)sizeof(*ss);
	if (evutil_parse_sockaddr_port(copy, (struct sockaddr *)ss, len))
		return SHOAL_EPROTO;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	return 0;
}
