/*
 * Network addresses as text; see addr.h.
 */
#include "net/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

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

