/*
 * The object directory; see objects.h.
 */
#include "store/objects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/manifest.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fsutil.h"
#include "util/log.h"

#define VERIFY_BLOCK (256 * 1024)

static void subdir_path(const struct objects *o, unsigned sub, char *out, size_t size)
{
	snprintf(out, size, "%s/%02x", o->dir, sub);
}

static int remove_temps(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return -errno;
	struct dirent *de;
	int removed = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		log_info("removed %d stray temp file%s", removed, removed == 1 ? "" : "s");
	return 0;
}

int objects_open(struct objects *o, const char *home)
{
	memset(o, 0, sizeof(*o));
	if ((size_t)snprintf(o->dir, sizeof(o->dir), "%s/objects", home) >= sizeof(o->dir))
		return -ENAMETOOLONG;
	snprintf(o->tmpdir, sizeof(o->tmpdir), "%s/tmp", o->dir);
	char path[PATH_MAX];
	subdir_path(o, 0xff, path, sizeof(path));
	struct stat st;
	if (stat(path, &st)) {
		/* First open: make the whole tree once so writes never create
		 * directories (and never need to fsync objects/ itself). */
		int err = mkdir_p(o->tmpdir, 0700);
		for (unsigned i = 0; !err && i < 256; i++) {
			subdir_path(o, i, path, sizeof(path));
			if (mkdir(path, 0700) && errno != EEXIST)
				err = -errno;
		}
		if (!err)
			err = fsync_dir(o->dir);
		if (!err)
			err = fsync_dir(home);
		if (err)
			return err;
	}
	return remove_temps(o->tmpdir);
}

void objects_path(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], char *out, size_t size)
{
	char hex[2 * CHUNK_ID_LEN + 1];
	hex_encode(hex, id, CHUNK_ID_LEN);
	snprintf(out, size, "%s/%.2s/%s", o->dir, hex, hex);
}

static void mark_touched(struct objects *o, unsigned sub)
{
	atomic_fetch_or(&o->touched[sub / 64], (uint_fast64_t)1 << (sub % 64));
}

int objects_exists(const struct objects *o, const uint8_t id[CHUNK_ID_LEN])
{
	char path[PATH_MAX];
	objects_path(o, id, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

int objects_write(struct objects *o, const uint8_t id[CHUNK_ID_LEN], const uint8_t *p, size_t n,
		  int flags, int *created)
{
	char path[PATH_MAX];
	if (created)
		*created = 0;
	int exists = objects_exists(o, id);
	if (exists < 0)
		return exists;
	/* An existing copy is kept only when it is intact; a damaged one is
	 * replaced by these (known good) bytes. */
	if (exists && objects_verify(o, id, NULL) != SHOAL_ECORRUPT)
		return 0;
	objects_path(o, id, path, sizeof(path));
	/* The directories are synced in batches, by objects_sync(). */
	int write_flags = ATOMIC_NODIRSYNC;
	if (flags & OBJECTS_DIRECT)
		write_flags |= ATOMIC_DIRECT;
	if (flags & OBJECTS_DEFER)
		write_flags |= ATOMIC_NOSYNC;
	int err = write_file_atomic_in(o->tmpdir, "", path, p, n, 0400, write_flags);
	if (err)
		return err;
	mark_touched(o, id[0]);
	if (flags & OBJECTS_DEFER)
		atomic_store(&o->deferred, 1);
	if (created)
		*created = 1;
	return 0;
}

int objects_sync(struct objects *o)
{
	int err = 0;
	if (atomic_exchange(&o->deferred, 0)) {
		/* Data and directories of many objects in one go. */
		for (unsigned w = 0; w < 4; w++)
			atomic_store(&o->touched[w], 0);
		int fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			err = -errno;
		else if (!(err = fault_check(FAULT_FSYNC)) && syncfs(fd))
			err = -errno;
		if (err)
			atomic_store(&o->deferred, 1); /* a retry syncs again */
		if (fd >= 0)
			close(fd);
		return err;
	}
	for (unsigned w = 0; w < 4; w++) {
		uint_fast64_t bits = atomic_exchange(&o->touched[w], 0);
		for (unsigned b = 0; b < 64; b++) {
			if (!(bits & ((uint_fast64_t)1 << b)))
				continue;
			char path[PATH_MAX];
			subdir_path(o, w * 64 + b, path, sizeof(path));
			int e = fsync_dir(path);
			if (e && !err) {
				err = e;
				/* Leave it marked so a retry syncs it again. */
				mark_touched(o, w * 64 + b);
			}
		}
	}
	return err;
}

/* Opens object id for reading and checks its size; fills *size. */
static int open_object(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], uint64_t *size)
{
	char path[PATH_MAX];
	objects_path(o, id, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? SHOAL_EMISSING : -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > OBJECT_SIZE_MAX) {
		close(fd);
		return SHOAL_ECORRUPT;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Reads the object open at fd (size bytes) into out and checks it is id;
 * closes fd. */
static int read_open(int fd, uint64_t size, const uint8_t id[CHUNK_ID_LEN], uint8_t *out,
		     size_t cap, int flags, size_t *len)
{
	int err = 0;
	if (size > cap || ((flags & OBJECTS_DIRECT) && objects_align_up((size_t)size) > cap)) {
		err = SHOAL_ECORRUPT;
		goto out;
	}
	if ((flags & OBJECTS_DIRECT) && fcntl(fd, F_SETFL, O_DIRECT) == 0) {
		/* A direct read of whole blocks stops short at the end of file. */
		ssize_t got = read_in_full(fd, out, objects_align_up((size_t)size));
		err = got < 0 ? (int)got : (uint64_t)got != size ? SHOAL_ECORRUPT : 0;
	} else {
		err = pread_exact(fd, out, (size_t)size, 0);
	}
	if (err)
		goto out;
	uint8_t digest[CHUNK_ID_LEN];
	sha256(out, (size_t)size, digest);
	if (memcmp(digest, id, CHUNK_ID_LEN)) {
		err = SHOAL_ECORRUPT;
		goto out;
	}
	*len = (size_t)size;
out:
	close(fd);
	return err;
}

int objects_read(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], uint8_t *out, size_t cap,
		 int flags, size_t *len)
{
	uint64_t size;
	int fd = open_object(o, id, &size);
	return fd < 0 ? fd : read_open(fd, size, id, out, cap, flags, len);
}

int objects_read_alloc(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], int flags,
		       uint8_t **out, size_t *len)
{
	uint64_t size;
	int fd = open_object(o, id, &size);
	if (fd < 0)
		return fd;
	size_t cap = objects_align_up((size_t)size ? (size_t)size : 1);
	void *p = NULL;
	if (posix_memalign(&p, OBJECTS_ALIGN, cap)) {
		close(fd);
		return -ENOMEM;
	}
	int err = read_open(fd, size, id, p, cap, flags, len);
	if (err)
		free(p);
	else
		*out = p;
	return err;
}

int objects_verify(const struct objects *o, const uint8_t id[CHUNK_ID_LEN], uint64_t *size_out)
{
	uint64_t size;
	int fd = open_object(o, id, &size);
	if (fd < 0)
		return fd;
	struct sha256_ctx h = {0};
	uint8_t *block = malloc(VERIFY_BLOCK);
	int err = block ? sha256_init(&h) : -ENOMEM;
	for (uint64_t off = 0; !err && off < size; off += VERIFY_BLOCK) {
		size_t n = size - off < VERIFY_BLOCK ? (size_t)(size - off) : VERIFY_BLOCK;
		err = pread_exact(fd, block, n, (off_t)off);
		if (!err)
			sha256_update(&h, block, n);
	}
	if (!err) {
		uint8_t digest[CHUNK_ID_LEN];
		sha256_final(&h, digest);
		if (memcmp(digest, id, CHUNK_ID_LEN))
			err = SHOAL_ECORRUPT;
		else if (size_out)
			*size_out = size;
	}
	sha256_release(&h);
	free(block);
	close(fd);
	return err;
}

int objects_delete(struct objects *o, const uint8_t id[CHUNK_ID_LEN])
{
	char path[PATH_MAX];
	objects_path(o, id, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return -errno;
	mark_touched(o, id[0]);
	return 0;
}

int objects_iterate(const struct objects *o, objects_iter_fn fn, void *arg)
{
	for (unsigned sub = 0; sub < 256; sub++) {
		char path[PATH_MAX];
		subdir_path(o, sub, path, sizeof(path));
		DIR *d = opendir(path);
		if (!d) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		struct dirent *de;
		int ret = 0;
		while (!ret && (de = readdir(d))) {
			uint8_t id[CHUNK_ID_LEN];
			size_t n = strlen(de->d_name);
			/* Only the spelling objects_path() makes: lowercase hex. */
			if (n != 2 * CHUNK_ID_LEN || strspn(de->d_name, "0123456789abcdef") != n ||
			    hex_decode(id, sizeof(id), de->d_name, n) || id[0] != sub)
				continue;
			if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
				continue;
			ret = fn(id, arg);
		}
		closedir(d);
		if (ret)
			return ret;
	}
	return 0;
}
