/*
 * Node configuration file; see config.h.
 */
#include "node/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
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
	if (!strcmp(name, "listen")) {
		if (addr_check(value)) {
			log_warnx("%s: listen: not HOST:PORT: %s", c->path, value);
			c->err = SHOAL_ECONFIG;
			return 0;
		}
		snprintf(c->cfg->listen, sizeof(c->cfg->listen), "%s", value);
	} else if (!strcmp(name, "bootstrap")) {
		if (addr_check_list(value)) {
			log_warnx("%s: bootstrap: not a list of HOST:PORT: %s", c->path, value);
			c->err = SHOAL_ECONFIG;
			return 0;
		}
		snprintf(c->cfg->bootstrap, sizeof(c->cfg->bootstrap), "%s", value);
	} else {
		log_warnx("%s: unknown key '%s'", c->path, name);
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
	int err = write_file_atomic(path, b.data, b.len, 0644);
	buf_release(&b);
	return err;
}
