/*
 * The node home: the directory holding one node's identity, configuration
 * and store. Which home a command uses: --home, else $SHOAL_HOME, else
 * ~/.shoal. A node comes to be in one of two ways: from the network file on
 * the same machine (home_init), or by enrollment, without the CA key ever on
 * the node's machine (home_request, then home_enroll with the certificate the
 * network file's holder signed). Either way the home ends up holding the node
 * key, its certificate and the CA certificate, never the CA key.
 *
 * Functions that judge what the user hands over take `const char **why`: on
 * a refusal it receives (when not NULL) a static one-line reason, nothing is
 * logged, and the caller prints one line.
 */
#ifndef SHOAL_NODE_HOME_H
#define SHOAL_NODE_HOME_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "node/config.h"

/* Picks the home directory: flag (may be NULL), then $SHOAL_HOME, then
 * $HOME/.shoal. Writes it into out. 0 or SHOAL_ECONFIG when none applies. */
int home_resolve(const char *flag, char *out, size_t size);

/*
 * Creates a node in home (created with mode 0700 if missing, an existing empty
 * one tightened to 0700; it must hold no node and no pending request):
 * identity signed by the network file's CA (nickname, NULL or "" for none, in
 * its certificate, valid NODE_LIFETIME_DAYS), convergence secret, object store,
 * index, and the config cfg, every file 0600; node.key comes last. The network
 * file and the nickname are checked before home is touched. Fills id. Returns
 * 0, SHOAL_EEXIST (with *why), SHOAL_EEXPOSED when home exists, is not empty
 * and other users may enter it (home_private() then says how), SHOAL_EPROTO (a
 * bad nickname), SHOAL_EIDENTITY (with *why: the network file), or -errno. On
 * failure a home this call created is removed when still empty.
 */
int home_init(const char *home, const char *network_path, const char *nickname,
	      const struct config *cfg, uint8_t id[NODE_ID_LEN], const char **why);

/*
 * The first step of enrollment: creates home as home_init() does, generates the
 * node key as home/node.key.pending (0600), saves cfg, and writes the signed
 * enrollment request (proto/enroll.h: the key, nickname, cfg->listen, now) to
 * request_path, a new file of mode 0644 (a request holds no secret; it is made
 * to be carried to the network file). Fills id with the node id to be. Returns
 * 0, SHOAL_EEXIST (with *why: a node or a request in home, or request_path
 * exists), SHOAL_EEXPOSED, SHOAL_EPROTO (a bad nickname) or -errno. On failure
 * nothing of the request is left (no pending key, no request file).
 */
int home_request(const char *home, const char *nickname, const struct config *cfg,
		 const char *request_path, uint8_t id[NODE_ID_LEN], const char **why);

/*
 * The last step of enrollment: takes the certificate file at cert_path
 * (identity_bundle_load(): the node certificate, then the CA certificate).
 * With a pending request in home, the node certificate must carry the pending
 * key and verify against the CA certificate (identity_check_cert()); then
 * home/node.crt and home/ca.crt are written, the store is created and last the
 * pending key becomes home/node.key, and *renewed is 0. With a complete node in
 * home, only a renewal is taken: a certificate for the node's own key, from its
 * own network's CA (home/ca.crt), valid now; it replaces home/node.crt
 * atomically and *renewed is 1. Fills id. Returns 0, -ENOENT (no request and
 * no node in home, with *why), SHOAL_EIDENTITY or SHOAL_ETOOBIG (the file or
 * the certificate refused, with *why), or -errno.
 */
int home_enroll(const char *home, const char *cert_path, uint8_t id[NODE_ID_LEN], int *renewed,
		const char **why);

/*
 * Renews the certificate of the node in home with net's CA, in place: same key,
 * same nickname, valid days days from now (network_renew()), written atomically
 * as home/node.crt. The node must belong to net (home/ca.crt is net's CA
 * certificate). A running daemon keeps presenting the old certificate until it
 * restarts. On success *out receives the new certificate (free with
 * X509_free()). Returns 0, -ENOENT (no node in home, with *why),
 * SHOAL_EIDENTITY (with *why), or as network_renew().
 */
int home_renew(const char *home, const struct network *net, int days, X509 **out, const char **why);

/* Whether home is private: 0 when only its owner may enter it, SHOAL_EEXPOSED
 * (*mode set to its permission bits) when the group or others may, or
 * -errno. The daemon refuses to run on an exposed home. */
int home_private(const char *home, unsigned *mode);

#endif
