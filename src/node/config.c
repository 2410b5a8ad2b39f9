/*
 * Node configuration file; see config.h.
 */
#include "node/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "%s", CONFIG_DEFAULT_LISTEN);
	cfg->ping_interval = 1.0;
	cfg->peer_timeout = 5.0;
	cfg->handshake_timeout = 5.0;
	cfg->gossip_interval = 5.0;
	cfg->backoff_max = 30.0;
	cfg->grace_period = 10.0;
	cfg->repair_interval = 5.0;
	cfg->repair_rate = 64.0;
	cfg->scrub_rate = 8.0;
	cfg->max_connections = 512;
	cfg->max_pending = 128;
	cfg->max_pending_per_host = 32;
	cfg->catalog_per_member = 10000;
	cfg->max_members = CONFIG_MEMBERS_MAX;
}

/* Keys holding numbers: where each lives and its bounds. */
struct number_key {
	const char *name;
	size_t offset;
	int is_double;
	double min, max;
};

static const struct number_key number_keys[] = {
	{"ping_interval", offsetof(struct config, ping_interval), 1, 0.05, 3600},
	{"peer_timeout", offsetof(struct config, peer_timeout), 1, 0.2, 86400},
	{"handshake_timeout", offsetof(struct config, handshake_timeout), 1, 0.1, 600},
	{"gossip_interval", offsetof(struct config, gossip_interval), 1, 0.1, 3600},
	{"backoff_max", offsetof(struct config, backoff_max), 1, 0.1, 86400},
	{"grace_period", offsetof(struct config, grace_period), 1, 0.1, 30 * 86400},
	{"repair_interval", offsetof(struct config, repair_interval), 1, 0.1, 86400},
	{"repair_rate", offsetof(struct config, repair_rate), 1, 0.01, 100000},
	{"scrub_rate", offsetof(struct config, scrub_rate), 1, 0, 100000},
	{"max_connections", offsetof(struct config, max_connections), 0, 1, 100000},
	{"max_pending", offsetof(struct config, max_pending), 0, 1, 100000},
	{"max_pending_per_host", offsetof(struct config, max_pending_per_host), 0, 1, 100000},
	{"catalog_per_member", offsetof(struct config, catalog_per_member), 0, 1, 1000000},
	{"max_members", offsetof(struct config, max_members), 0, 2, CONFIG_MEMBERS_MAX},
};

int config_set(struct config *cfg, const char *key, const char *value)
{
	if (!strcmp(key, "listen")) {
		if (addr_check(value)) {
			log_warnx("listen: not HOST:PORT: %s", value);
			return SHOAL_ECONFIG;
		}
		snprintf(cfg->listen, sizeof(cfg->listen), "%s", value);
		return 0;
	}
	if (!strcmp(key, "bootstrap")) {
		if (addr_check_list(value)) {
			log_warnx("bootstrap: not a list of HOST:PORT: %s", value);
			return SHOAL_ECONFIG;
		}
		snprintf(cfg->bootstrap, sizeof(cfg->bootstrap), "%s", value);
		return 0;
	}
	for (size_t i = 0; i < sizeof(number_keys) / sizeof(number_keys[0]); i++) {
		const struct number_key *k = &number_keys[i];
		if (strcmp(key, k->name))
			continue;
		char *end = NULL;
		double v = strtod(value, &end);
		if (end == value || *end || !(v >= k->min && v <= k->max) ||
		    (!k->is_double && v != (double)(unsigned)v)) {
			log_warnx("%s: expected a number from %g to %g: %s", key, k->min, k->max,
				  value);
			return SHOAL_ECONFIG;
		}
		if (k->is_double)
			*(double *)((char *)cfg + k->offset) = v;
		else
			*(unsigned *)((char *)cfg + k->offset) = (unsigned)v;
		return 0;
	}
	log_warnx("unknown setting '%s'", key);
	return SHOAL_ECONFIG;
}

struct load_ctx {
	struct config *cfg;
	const char *path;
	int err;
};

static int on_entry(void *arg, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = arg;
	if (strcmp(section, "node")) {
		log_warnx("%s: unknown section [%s]", c->path, section);
		c->err = SHOAL_ECONFIG;
		return 0;
	}
	if (config_set(c->cfg, name, value)) {
		log_warnx("%s: bad setting '%s'", c->path, name);
		c->err = SHOAL_ECONFIG;
		return 0;
	}
	return 1;
}

int config_load(const char *home, struct config *cfg)
{
	char path[PATH_MAX];
	config_defaults(cfg);
	if ((size_t)snprintf(path, sizeof(path), "%s/config", home) >= sizeof(path))
		return SHOAL_ECONFIG;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	struct load_ctx c = {cfg, path, 0};
	int line = ini_parse_file(f, on_entry, &c);
	fclose(f);
	if (line > 0 && !c.err) {
		log_warnx("%s: line %d: syntax error", path, line);
		return SHOAL_ECONFIG;
	}
	return c.err ? c.err : line ? SHOAL_ECONFIG : 0;
}

int config_save(const char *home, const struct config *cfg)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/config", home) >= sizeof(path))
		return -ENAMETOOLONG;
	struct buf b = BUF_INIT;
	buf_addf(&b, "# Shoal node configuration. Flags of 'shoal daemon' override it.\n");
	buf_addf(&b, "[node]\nlisten = %s\n", cfg->listen);
	if (cfg->bootstrap[0])
		buf_addf(&b, "bootstrap = %s\n", cfg->bootstrap);
	struct config def;
	config_defaults(&def);
	for (size_t i = 0; i < sizeof(number_keys) / sizeof(number_keys[0]); i++) {
		const struct number_key *k = &number_keys[i];
		const char *mine = (const char *)cfg + k->offset;
		if (!memcmp(mine, (const char *)&def + k->offset,
			    k->is_double ? sizeof(double) : sizeof(unsigned)))
			continue;
		if (k->is_double)
			buf_addf(&b, "%s = %g\n", k->name, *(const double *)mine);
		else
			buf_addf(&b, "%s = %u\n", k->name, *(const unsigned *)mine);
	}
	int err = write_file_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	return err;
}
