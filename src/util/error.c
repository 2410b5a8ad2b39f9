/*
 * The single table of error messages behind shoal_strerror().
 */
#include "util/error.h"

#include <string.h>

static const char *const messages[SHOAL__NERRORS] = {
#define SHOAL__ERROR_MESSAGE(name, msg) [SHOAL__IDX_##name] = msg,
	SHOAL_ERROR_MAP(SHOAL__ERROR_MESSAGE)
#undef SHOAL__ERROR_MESSAGE
};

const char *shoal_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err < SHOAL_EBASE) {
		int idx = SHOAL_EBASE - 1 - err;
		if (idx < SHOAL__NERRORS)
			return messages[idx];
		return "unknown error";
	}
	if (err < 0)
		return strerror(-err);
	return "unknown error";
}
