/*
 * Node home resolution and creation; see home.h.
 */
#include "node/home.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

int home_resolve(const char *flag, char *out, size_t size)
{
	const char *env = getenv("SHOAL_HOME");
	const char *user = getenv("HOME");
	int n;
	if (flag && *flag)
		n = snprintf(out, size, "%s", flag);
	else if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (user && *user)
		n = snprintf(out, size, "%s/.shoal", user);
	else
		return SHOAL_ECONFIG;
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int home_private(const char *home, unsigned *mode)
{
	struct stat st;
	if (stat(home, &st))
		return -errno;
	*mode = st.st_mode & 07777;
	return st.st_mode & 077 ? SHOAL_EEXPOSED : 0;
}

/* Whether dir holds no entry: 1, 0, or -errno. */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	int empty = 1;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

int home_init(const char *home, const char *network_path, const struct config *cfg,
	      uint8_t id[NODE_ID_LEN])
{
	char path[PATH_MAX];
	struct stat st;
	int created = 0;
	if (stat(home, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if ((size_t)snprintf(path, sizeof(path), "%s/node.key", home) >= sizeof(path))
			return -ENAMETOOLONG;
		if (access(path, F_OK) == 0)
			return SHOAL_EEXIST;
		if (st.st_mode & 077) {
			/* An empty directory is the node's to tighten; one holding
			 * something else is the user's to decide about. */
			int empty = dir_empty(home);
			if (empty < 0)
				return empty;
			if (!empty)
				return SHOAL_EEXPOSED;
			if (chmod(home, 0700))
				return -errno;
		}
	} else {
		int err = mkdir_p(home, 0700);
		if (err)
			return err;
		created = 1;
	}
	int err = identity_init(home, network_path, id);
	if (!err)
		err = store_create(home);
	if (!err)
		err = config_save(home, cfg);
	if (!err)
		err = fsync_dir(home);
	if (err && created) {
		/* Identity comes first and writes nothing when it fails, so a home
		 * this call made is usually still empty: remove it so a retry
		 * starts clean. */
		if (rmdir(home) == 0)
			log_debug("removed %s after failed init", home);
	}
	return err;
}
