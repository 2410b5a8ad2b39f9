/*
 * The node's configuration file, home/config, in INI form (parsed with inih):
 *
 *   [node]
 *   listen = 127.0.0.1:7400
 *   bootstrap = 10.0.0.1:7400,10.0.0.2:7400
 *   peer_timeout = 5        (also ping_interval, handshake_timeout,
 *                            gossip_interval, backoff_max, grace_period,
 *                            repair_interval: seconds; repair_gone_days:
 *                            days;
 *                            repair_rate, scrub_rate: MiB/s;
 *                            max_connections, max_pending,
 *                            max_pending_per_host, catalog_per_member,
 *                            replicas_max, max_members: counts;
 *                            recovery_delay: seconds from a change of
 *                            the names to the upload of the name table
 *                            (2; 0: never, and the names cannot be
 *                            recovered);
 *                            folder_scan_interval: seconds between full
 *                            scans of each collaborative folder (3600,
 *                            jittered; 0: only on changes);
 *                            prune_keep_last, prune_keep_daily,
 *                            prune_keep_weekly, prune_keep_monthly:
 *                            versions, see below;
 *                            storage_limit, storage_per_member: bytes,
 *                            with K, M, G or T (powers of 1024), 0 for
 *                            no limit)
 *
 * The prune_keep_* keys are the retention run on a name's versions after
 * each put, with the rules of `shoal prune --keep-*`; all 0 (the default)
 * keeps every version.
 *
 * grace_period defaults to 600 s: a member is lost, and its copies remade
 * elsewhere, only after ten minutes down (see struct config).
 *
 * `shoal init` writes it; command-line flags override it. Addresses are
 * HOST:PORT with a numeric port; bootstrap is a comma-separated list.
 *
 * Thread affinity: loaded before the daemon starts; the daemon's modules then
 * only read their copy of struct config, on any thread.
 */
#ifndef SHOAL_NODE_CONFIG_H
#define SHOAL_NODE_CONFIG_H

#include <stdint.h>

#define CONFIG_ADDR_MAX	      256
#define CONFIG_BOOTSTRAP_MAX  4096
#define CONFIG_DEFAULT_LISTEN "0.0.0.0:7400"
#define CONFIG_MEMBERS_MAX    1024 /* the member table's size; max_members at most */

struct config {
	char listen[CONFIG_ADDR_MAX];
	char bootstrap[CONFIG_BOOTSTRAP_MAX]; /* comma-separated, may be empty */
	/* Timing, in seconds (keys of the same names). */
	double ping_interval;	  /* keepalive ping to each peer */
	double peer_timeout;	  /* a peer silent this long is down */
	double handshake_timeout; /* TCP+TLS must finish within this */
	double gossip_interval;	  /* peer exchange with every peer */
	double backoff_max;	  /* cap of the reconnect backoff */
	/* A member down this long is lost: its copies are remade elsewhere. 600 s
	 * by default (Ceph marks a down OSD out after as long), so that a reboot
	 * or a router's hiccup causes no storm of repair copies; until then its
	 * copies still count and repair waits. */
	double grace_period;
	double repair_interval;	     /* how often replica counts are checked */
	double repair_rate;	     /* MiB/s at most spent copying chunks for repair */
	double scrub_rate;	     /* MiB/s at most re-hashed by the background scrub (0: off) */
	double recovery_delay;	     /* a names change to the table's upload (0: never) */
	double folder_scan_interval; /* full scans of each folder (0: only on changes) */
	/* Limits. */
	unsigned max_connections;      /* all connections, authenticated or not */
	unsigned max_pending;	       /* connections still in their handshake */
	unsigned max_pending_per_host; /* ... from one IP address */
	unsigned catalog_per_member;   /* catalog entries one owner may have here */
	unsigned max_members;	       /* members this node keeps (2..CONFIG_MEMBERS_MAX) */
	unsigned replicas_max;	       /* copies repair keeps of a chunk at most */
	double repair_gone_days;       /* repair still serves a pinner gone this long */

	/* Versions a put keeps of its name (shoal prune's rules; all 0: every
	 * version). */
	unsigned prune_keep_last, prune_keep_daily, prune_keep_weekly, prune_keep_monthly;

	uint64_t storage_limit;	     /* bytes this node stores in all; 0: no limit */
	uint64_t storage_per_member; /* bytes one member may have pinned here; 0: no limit */
};

/* Fills cfg with defaults. */
void config_defaults(struct config *cfg);
/* Reads home/config over the defaults. A missing file is fine (defaults);
 * a malformed one is SHOAL_ECONFIG (logged with its line number). */
int config_load(const char *home, struct config *cfg);
/* Sets one key from text (the same keys as the file). 0 or SHOAL_ECONFIG
 * (logged with the key). */
int config_set(struct config *cfg, const char *key, const char *value);
/* Writes cfg to home/config atomically (listen and bootstrap, and the other
 * keys only where they differ from the defaults). */
int config_save(const char *home, const struct config *cfg);

#endif
