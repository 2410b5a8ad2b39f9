/*
 * The node home: the directory holding one node's identity, configuration
 * and store. Which home a command uses: --home, else $SHOAL_HOME, else
 * ~/.shoal.
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
 * one tightened to 0700; it must not hold a node already): identity signed by
 * the network file's CA, convergence secret, object store, index, and the
 * config cfg, every file 0600. Fills id. SHOAL_EEXPOSED when home exists, is
 * not empty and other users may enter it (home_private() then says how). On
 * failure a home this call created is removed when still empty.
 */
int home_init(const char *home, const char *network_path, const struct config *cfg,
	      uint8_t id[NODE_ID_LEN]);

/* Whether home is private: 0 when only its owner may enter it, SHOAL_EEXPOSED
 * (*mode set to its permission bits) when the group or others may, or
 * -errno. The daemon refuses to run on an exposed home. */
int home_private(const char *home, unsigned *mode);

#endif
