/*
 * Notes of restore temporaries; see restores.h.
 */
#include "store/restores.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define NOTES_DIR    "restores"
#define TOKEN_DIGITS 16

/* home/restores, or home/restores/token. */
static int note_path(const char *home, const char *token, char *out, size_t size)
{
	int n = token ? snprintf(out, size, "%s/" NOTES_DIR "/%s", home, token)
		      : snprintf(out, size, "%s/" NOTES_DIR, home);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Whether name is TOKEN_DIGITS lower-case hex digits. */
static int is_token(const char *name)
{
	size_t n = strlen(name);
	return n == TOKEN_DIGITS && strspn(name, "0123456789abcdef") == n;
}

int restore_temp_note(const char *home, const char *out_path, struct restore_temp *t)
{
	t->path[0] = t->note[0] = 0;
	t->home = home;
	char out[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
	size_t len = strlen(out_path);
	while (len > 1 && out_path[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(out))
		return -ENAMETOOLONG;
	memcpy(out, out_path, len);
	out[len] = 0;
	path_dirname(out, dir, sizeof(dir));
	/* Absolute, so that a sweep from any working directory finds it. */
	if (!realpath(dir, real))
		return -errno;
	uint8_t raw[TOKEN_DIGITS / 2];
	char token[TOKEN_DIGITS + 1];
	int err = random_bytes(raw, sizeof(raw));
	if (err)
		return err;
	hex_encode(token, raw, sizeof(raw));
	int n = snprintf(t->path, sizeof(t->path), "%s/" RESTORE_TEMP_PREFIX "%s",
			 strcmp(real, "/") ? real : "", token);
	if (n < 0 || (size_t)n >= sizeof(t->path)) {
		t->path[0] = 0;
		return -ENAMETOOLONG;
	}
	if (!home)
		return 0;
	char notes[PATH_MAX];
	err = note_path(home, NULL, notes, sizeof(notes));
	if (!err)
		err = mkdir_p(notes, 0700);
	if (!err)
		err = note_path(home, token, t->note, sizeof(t->note));
	if (!err)
		err = write_file_atomic(t->note, t->path, strlen(t->path), 0600);
	if (err == -ENOSPC || err == -EDQUOT) {
		/* A full home must not stop a restore to another disk: the
		 * temporary goes un-noted (only a kill during this get would
		 * leave it behind). */
		t->note[0] = 0;
		return 0;
	}
	if (err)
		t->path[0] = t->note[0] = 0;
	return err;
}

/* Removes path (a file or a tree) without following a link. */
static int remove_path(const char *path)
{
	char dir[PATH_MAX];
	path_dirname(path, dir, sizeof(dir));
	int parent = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return -errno;
	int err = remove_tree_at(parent, strrchr(path, '/') + 1);
	close(parent);
	return err;
}

/* Replaces out with t where the file system cannot exchange them. */
static int install_fallback(struct restore_temp *t, const char *out)
{
	struct stat old, new;
	if (lstat(out, &old))
		return errno == ENOENT ? rename_noreplace(t->path, out) : -errno;
	if (lstat(t->path, &new))
		return -errno;
	if (!S_ISDIR(old.st_mode) && !S_ISDIR(new.st_mode))
		return rename(t->path, out) ? -errno : 0;
	/* Not atomic: the old one goes aside (noted), the new one in. */
	struct restore_temp aside;
	int err = restore_temp_note(t->home, out, &aside);
	if (err)
		return err;
	if (rename(out, aside.path)) {
		err = -errno;
		restore_temp_forget(&aside);
		return err;
	}
	if (rename(t->path, out)) {
		err = -errno;
		if (rename(aside.path, out) == 0)
			restore_temp_forget(&aside);
		return err;
	}
	err = remove_path(aside.path);
	if (!err)
		restore_temp_forget(&aside);
	return err;
}

int restore_temp_install(struct restore_temp *t, const char *out_path, int replace)
{
	char out[PATH_MAX], dir[PATH_MAX];
	size_t len = strlen(out_path);
	while (len > 1 && out_path[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(out))
		return -ENAMETOOLONG;
	memcpy(out, out_path, len);
	out[len] = 0;
	int err;
	if (!replace) {
		err = rename_noreplace(t->path, out);
	} else if (renameat2(AT_FDCWD, t->path, AT_FDCWD, out, RENAME_EXCHANGE) == 0) {
		/* The new one is in place; the old one sits at the temporary's
		 * noted place, which the next sweep clears should this fail. */
		err = remove_path(t->path);
		if (err) {
			log_warnx("cannot remove the replaced %s (moved to %s): %s", out, t->path,
				  shoal_strerror(err));
			t->note[0] = 0;
			err = 0;
		}
	} else if (errno == ENOENT) {
		err = rename_noreplace(t->path, out); /* nothing to replace */
	} else if (errno == EINVAL || errno == ENOSYS) {
		err = install_fallback(t, out);
	} else {
		err = -errno;
	}
	if (err == -EEXIST)
		return SHOAL_EEXIST;
	if (err)
		return err;
	path_dirname(out, dir, sizeof(dir));
	err = fsync_dir(dir);
	restore_temp_forget(t);
	return err;
}

void restore_temp_forget(struct restore_temp *t)
{
	if (!t->note[0])
		return;
	if (unlink(t->note) && errno != ENOENT)
		log_warn("cannot remove %s", t->note);
	t->note[0] = 0;
}

/* Removes the temporary the note token (in home) names, if it is still
 * there. 1 when something was removed, 0 when nothing was there, or an
 * error; the note is dropped unless there was an error. */
static int sweep_one(const char *home, const char *token)
{
	char note[PATH_MAX];
	int err = note_path(home, token, note, sizeof(note));
	if (err)
		return err;
	struct buf text = BUF_INIT;
	err = read_file(note, &text, PATH_MAX - 1);
	if (err)
		goto out;
	/* The note must name, absolutely, the very temporary its name says. */
	char path[PATH_MAX], want[sizeof(RESTORE_TEMP_PREFIX) + TOKEN_DIGITS];
	snprintf(want, sizeof(want), RESTORE_TEMP_PREFIX "%s", token);
	memcpy(path, text.data, text.len);
	path[text.len] = 0;
	const char *base = strrchr(path, '/');
	if (strlen(path) != text.len || path[0] != '/' || !base || strcmp(base + 1, want)) {
		log_warnx("%s does not name a restore temporary; left alone", note);
		err = SHOAL_EPROTO;
		goto out;
	}
	char dir[PATH_MAX];
	path_dirname(path, dir, sizeof(dir));
	int parent = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0) {
		/* Its directory is gone: so is the temporary. */
		err = errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	} else {
		struct stat st;
		int present = fstatat(parent, want, &st, AT_SYMLINK_NOFOLLOW) == 0;
		err = present ? remove_tree_at(parent, want) : 0;
		if (!err && present) {
			fsync(parent);
			log_info("removed %s, left by a restore that did not finish", path);
			err = 1;
		}
		close(parent);
	}
	if (err >= 0 && unlink(note))
		err = -errno;
out:
	buf_release(&text);
	return err;
}

int restore_temp_sweep(const char *home)
{
	char notes[PATH_MAX];
	int err = note_path(home, NULL, notes, sizeof(notes));
	if (err)
		return err;
	DIR *d = opendir(notes);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	/* Names first, then the work: removing while reading may skip some. */
	struct buf names = BUF_INIT;
	size_t count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_token(de->d_name))
			continue;
		buf_add(&names, de->d_name, TOKEN_DIGITS + 1);
		count++;
	}
	closedir(d);
	int removed = 0;
	for (size_t i = 0; i < count; i++) {
		const char *token = (const char *)names.data + i * (TOKEN_DIGITS + 1);
		int r = sweep_one(home, token);
		if (r > 0)
			removed++;
		else if (r < 0 && r != SHOAL_EPROTO) /* that one was logged */
			log_warnx("cannot clean up the restore noted in %s/%s: %s", notes, token,
				  shoal_strerror(r));
	}
	buf_release(&names);
	return removed;
}
