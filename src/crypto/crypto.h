/*
 * What the crypto modules share: turning a failure inside OpenSSL into the
 * project's error code, logged once, with OpenSSL's own reason.
 */
#ifndef SHOAL_CRYPTO_CRYPTO_H
#define SHOAL_CRYPTO_CRYPTO_H

/*
 * For an OpenSSL call that failed through no fault of its input: logs
 * "WHAT: <OpenSSL's last reason>" with log_warnx(), empties the thread's
 * OpenSSL error queue (so that later calls do not see stale errors) and
 * returns SHOAL_ECRYPTO. what is borrowed; a caller of a higher layer puts
 * its prefix in it ("tls: ...").
 */
int crypto_error(const char *what);

#endif
