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
	cfg->grace_period = 600.0;
	cfg->repair_interval = 5.0;
	cfg->repair_rate = 64.0;
	cfg->scrub_rate = 8.0;
	cfg->recovery_delay = 2.0;
	cfg->folder_scan_interval = 3600.0;
	cfg->max_connections = 512;
	cfg->max_pending = 128;
	cfg->max_pending_per_host = 32;
	cfg->catalog_per_member = 10000;
	cfg->max_members = CONFIG_MEMBERS_MAX;
	cfg->replicas_max = 8;
	cfg->repair_gone_days = 30;
}

/* Keys holding byte sizes. */
struct size_key {
	const char *name;
	size_t offset;
};

static const struct size_key size_keys[] = {
	{"storage_limit", offsetof(struct config, storage_limit)},
	{"storage_per_member", offsetof(struct config, storage_per_member)},
};

/* Parses a size: digits, then optionally K, M, G or T (powers of 1024, an
 * "iB" or "B" after them allowed), any case. Returns 0 or -1. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 0;
	const char *u = *end ? strchr(units, *end & ~0x20) : NULL;
	if (u) {
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if ((*end & ~0x20) == 'I' && (end[1] & ~0x20) == 'B')
			end += 2;
		else if ((*end & ~0x20) == 'B')
			end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Writes a size as parse_size() reads it, with the largest exact unit. */
static void format_size(struct buf *b, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	buf_addf(b, "%llu%.*s", (unsigned long long)v, u < 0 ? 0 : 1, units + (u < 0 ? 0 : u));
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
	{"recovery_delay", offsetof(struct config, recovery_delay), 1, 0, 3600},
	{"folder_scan_interval", offsetof(struct config, folder_scan_interval), 1, 0, 7 * 86400},
	{"max_connections", offsetof(struct config, max_connections), 0, 1, 100000},
	{"max_pending", offsetof(struct config, max_pending), 0, 1, 100000},
	{"max_pending_per_host", offsetof(struct config, max_pending_per_host), 0, 1, 100000},
	{"catalog_per_member", offsetof(struct config, catalog_per_member), 0, 1, 1000000},
	{"replicas_max", offsetof(struct config, replicas_max), 0, 1, 16},
	{"repair_gone_days", offsetof(struct config, repair_gone_days), 1, 0, 36500},
	{"max_members", offsetof(struct config, max_members), 0, 2, CONFIG_MEMBERS_MAX},
	{"prune_keep_last", offsetof(struct config, prune_keep_last), 0, 0, 1000000},
	{"prune_keep_daily", offsetof(struct config, prune_keep_daily), 0, 0, 1000000},
	{"prune_keep_weekly", offsetof(struct config, prune_keep_weekly), 0, 0, 1000000},
	{"prune_keep_monthly", offsetof(struct config, prune_keep_monthly), 0, 0, 1000000},
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
	for (size_t i = 0; i < sizeof(size_keys) / sizeof(size_keys[0]); i++) {
		if (strcmp(key, size_keys[i].name))
			continue;
		if (parse_size(value, (uint64_t *)((char *)cfg + size_keys[i].offset))) {
			log_warnx("%s: expected a size in bytes, with K, M, G or T if you like: %s",
				  key, value);
			return SHOAL_ECONFIG;
		}
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
	for (size_t i = 0; i < sizeof(size_keys) / sizeof(size_keys[0]); i++) {
		uint64_t v = *(const uint64_t *)((const char *)cfg + size_keys[i].offset);
		if (!v)
			continue;
		buf_addf(&b, "%s = ", size_keys[i].name);
		format_size(&b, v);
		buf_addf(&b, "\n");
	}
	int err = write_file_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	return err;
}
