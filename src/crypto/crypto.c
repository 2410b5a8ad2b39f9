/*
 * OpenSSL failures; see crypto.h.
 */
#include "crypto/crypto.h"

#include <openssl/err.h>

#include "util/error.h"
#include "util/log.h"

int crypto_error(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	log_warnx("%s: %s", what, reason);
	return SHOAL_ECRYPTO;
}
