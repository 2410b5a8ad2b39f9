/*
 * The node's configuration file, home/config, in INI form (parsed with inih):
 *
 *   [node]
 *   listen = 127.0.0.1:7400
 *   bootstrap = 10.0.0.1:7400,10.0.0.2:7400
 *
 * `shoal init` writes it; command-line flags override it. Addresses are
 * HOST:PORT with a numeric port; bootstrap is a comma-separated list.
 */
#ifndef SHOAL_NODE_CONFIG_H
#define SHOAL_NODE_CONFIG_H

#define CONFIG_ADDR_MAX	      256
#define CONFIG_BOOTSTRAP_MAX  4096
#define CONFIG_DEFAULT_LISTEN "0.0.0.0:7400"

struct config {
	char listen[CONFIG_ADDR_MAX];
	char bootstrap[CONFIG_BOOTSTRAP_MAX]; /* comma-separated, may be empty */
};

/* Fills cfg with defaults. */
void config_defaults(struct config *cfg);
/* Reads home/config over the defaults. A missing file is fine (defaults);
 * a malformed one is SHOAL_ECONFIG (logged with its line number). */
int config_load(const char *home, struct config *cfg);
/* Writes cfg to home/config atomically. */
int config_save(const char *home, const struct config *cfg);

#endif
