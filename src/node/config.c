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

#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "%s", CONFIG_DEFAULT_LISTEN);
}

int config_check_addr(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || strlen(addr) >= CONFIG_ADDR_MAX)
		return SHOAL_ECONFIG;
	if (addr[0] == '[' && colon[-1] != ']')
		return SHOAL_ECONFIG;
	for (const char *p = addr; p < colon; p++) {
		if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
			return SHOAL_ECONFIG;
	}
	const char *port = colon + 1;
	if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
		return SHOAL_ECONFIG;
	return atoi(port) <= 65535 ? 0 : SHOAL_ECONFIG;
}

int config_check_addr_list(const char *list)
{
	if (!*list)
		return 0;
	if (strlen(list) >= CONFIG_BOOTSTRAP_MAX)
		return SHOAL_ECONFIG;
	char copy[CONFIG_BOOTSTRAP_MAX];
	snprintf(copy, sizeof(copy), "%s", list);
	char *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		if (config_check_addr(tok))
			return SHOAL_ECONFIG;
	}
	return n ? 0 : SHOAL_ECONFIG;
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
		if (config_check_addr(value)) {
			log_warnx("%s: listen: not HOST:PORT: %s", c->path, value);
			c->err = SHOAL_ECONFIG;
			return 0;
		}
		snprintf(c->cfg->listen, sizeof(c->cfg->listen), "%s", value);
	} else if (!strcmp(name, "bootstrap")) {
		if (config_check_addr_list(value)) {
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
