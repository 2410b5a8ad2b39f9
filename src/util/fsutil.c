/*
 * File-system helpers; see fsutil.h.
 */
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fault.h"
#include "util/interrupt.h"

ssize_t read_in_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)p + got, n - got);
		if (r < 0) {
			if (errno == EINTR && !interrupt_pending())
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* An injected write failure (util/fault.h), for writes to regular files
 * only: sockets and pipes (the control connection, stdout) are not the
 * store's disk. */
static int write_fault(int fd)
{
	if (!fault_armed(FAULT_WRITE))
		return 0;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return 0;
	return fault_check(FAULT_WRITE);
}

int write_in_full(int fd, const void *p, size_t n)
{
	int err = write_fault(fd);
	if (err)
		return err;
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const uint8_t *)p + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

int pwrite_in_full(int fd, const void *p, size_t n, off_t off)
{
	int err = write_fault(fd);
	if (err)
		return err;
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, (const uint8_t *)p + done, n - done, off + (off_t)done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

int pread_exact(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)p + got, n - got, off + (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return SHOAL_ECORRUPT;
		got += (size_t)r;
	}
	return 0;
}

int fsync_dir(const char *path)
{
	int injected = fault_check(FAULT_FSYNC);
	if (injected)
		return injected;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = fsync(fd) ? -errno : 0;
	close(fd);
	return err;
}

int stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_dev != b->st_dev || a->st_ino != b->st_ino || a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != 0)
			continue;
		char saved = tmp[i];
		tmp[i] = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		tmp[i] = saved;
	}
	struct stat st;
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

void path_dirname(const char *path, char *out, size_t out_size)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(out, out_size, ".");
	} else if (slash == path) {
		snprintf(out, out_size, "/");
	} else {
		snprintf(out, out_size, "%.*s", (int)(slash - path), path);
	}
}

int create_temp_file(const char *dir, const char *prefix, mode_t mode, char *path_out,
		     size_t path_size)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t r;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		int n = snprintf(path_out, path_size, "%s/%s%016llx", dir, prefix,
				 (unsigned long long)r);
		if (n < 0 || (size_t)n >= path_size)
			return -ENAMETOOLONG;
		int fd = open(path_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Writes p[0..n), padded to whole blocks, through a second descriptor on
 * the new file at path opened with O_DIRECT, then cuts the padding. Returns
 * 0, -errno, or 1 (nothing written) when the file system has no direct I/O. */
static int write_direct(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return errno == EINVAL ? 1 : -errno;
	size_t padded = (n + DIRECT_IO_ALIGN - 1) & ~(size_t)(DIRECT_IO_ALIGN - 1);
	int err = write_in_full(fd, p, padded);
	if (!err && padded != n && ftruncate(fd, (off_t)n))
		err = -errno;
	close(fd);
	return err;
}

int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (link(from, to))
		return -errno;
	unlink(from);
	return 0;
}

int write_file_atomic_in(const char *tmpdir, const char *prefix, const char *path, const void *p,
			 size_t n, mode_t mode, int flags)
{
	char tmp[PATH_MAX];
	int fd = create_temp_file(tmpdir, prefix, mode, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	int err = flags & ATOMIC_DIRECT ? write_direct(tmp, p, n) : 1;
	if (err == 1)
		err = write_in_full(fd, p, n);
	/* The mode again: the one create_temp_file() gave went through umask. */
	if (!err && fchmod(fd, mode))
		err = -errno;
	if (!err && !(flags & ATOMIC_NOSYNC))
		err = fault_check(FAULT_FSYNC);
	if (!err && !(flags & ATOMIC_NOSYNC) && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err)
		err = fault_check(FAULT_RENAME);
	if (!err && (flags & ATOMIC_NOREPLACE))
		err = rename_noreplace(tmp, path);
	else if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	if (flags & ATOMIC_NODIRSYNC)
		return 0;
	char dir[PATH_MAX];
	path_dirname(path, dir, sizeof(dir));
	return fsync_dir(dir);
}

int write_file_atomic(const char *path, const void *p, size_t n, mode_t mode)
{
	char dir[PATH_MAX];
	path_dirname(path, dir, sizeof(dir));
	return write_file_atomic_in(dir, ".tmp-", path, p, n, mode, 0);
}

int read_file(const char *path, struct buf *out, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = 0;
	struct stat st;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = SHOAL_ETOOBIG;
		goto out;
	}
	buf_grow(out, (size_t)st.st_size);
	ssize_t r = read_in_full(fd, out->data + out->len, (size_t)st.st_size);
	if (r < 0) {
		err = (int)r;
		goto out;
	}
	buf_setlen(out, out->len + (size_t)r);
out:
	close(fd);
	return err;
}

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

int remove_tree_at(int parent, const char *name)
{
	if (!unlinkat(parent, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int fd = openat(parent, name, DIR_FLAGS);
	if (fd < 0 && errno == EACCES && !fchmodat(parent, name, 0700, 0))
		fd = openat(parent, name, DIR_FLAGS);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0700);
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int err = -errno;
		close(fd);
		return err;
	}
	int err = 0;
	for (;;) {
		/* Collect a batch of names, then remove them: removing while
		 * reading may make readdir skip entries. */
		struct buf names = BUF_INIT;
		size_t count = 0;
		rewinddir(dir);
		struct dirent *de;
		while ((de = readdir(dir)) && count < 4096) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			buf_add(&names, de->d_name, strlen(de->d_name) + 1);
			count++;
		}
		const char *at = (const char *)names.data;
		for (size_t i = 0; !err && i < count; i++, at += strlen(at) + 1)
			err = remove_tree_at(dirfd(dir), at);
		buf_release(&names);
		if (err || count == 0)
			break;
	}
	closedir(dir);
	if (!err && unlinkat(parent, name, AT_REMOVEDIR))
		err = -errno;
	return err;
}

int is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	return n == 0 || (b[0] == 0 && !memcmp(b, b + 1, n - 1));
}

int pwrite_sparse(int fd, const void *p, size_t n, off_t off)
{
	const uint8_t *b = p;
	size_t i = 0;
	while (i < n) {
		/* The rest of the block the byte at off + i is in. */
		size_t blk =
			DIRECT_IO_ALIGN - (size_t)((uint64_t)(off + (off_t)i) % DIRECT_IO_ALIGN);
		if (blk > n - i)
			blk = n - i;
		if (is_zero(b + i, blk)) {
			i += blk;
			continue;
		}
		size_t start = i;
		i += blk;
		while (i < n) {
			size_t next = n - i < DIRECT_IO_ALIGN ? n - i : DIRECT_IO_ALIGN;
			if (is_zero(b + i, next))
				break;
			i += next;
		}
		int err = pwrite_in_full(fd, b + start, i - start, off + (off_t)start);
		if (err)
			return err;
	}
	return 0;
}

void sparse_reader_init(struct sparse_reader *r, int fd, uint64_t pos, uint64_t size)
{
	*r = (struct sparse_reader){.fd = fd, .pos = pos, .size = size, .seg_end = pos};
}

/* Finds the data or hole r->pos is in. */
static void sparse_locate(struct sparse_reader *r)
{
	off_t data = lseek(r->fd, (off_t)r->pos, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		/* No data from here to the end: a hole. */
		r->seg_hole = 1;
		r->seg_end = r->size;
		return;
	}
	if (data < 0) {
		r->plain = 1;
		return;
	}
	if ((uint64_t)data > r->pos) {
		r->seg_hole = 1;
		r->seg_end = (uint64_t)data < r->size ? (uint64_t)data : r->size;
		return;
	}
	off_t hole = lseek(r->fd, (off_t)r->pos, SEEK_HOLE);
	if (hole < 0) {
		r->plain = 1;
		return;
	}
	r->seg_hole = 0;
	r->seg_end = (uint64_t)hole > r->pos && (uint64_t)hole < r->size ? (uint64_t)hole : r->size;
}

ssize_t sparse_read(struct sparse_reader *r, void *p, size_t n)
{
	if (!r->plain && r->pos < r->size && r->pos >= r->seg_end)
		sparse_locate(r);
	if (!r->plain && r->pos < r->seg_end) {
		uint64_t left = r->seg_end - r->pos;
		if (n > left)
			n = (size_t)left;
		if (r->seg_hole) {
			memset(p, 0, n);
			r->pos += n;
			return (ssize_t)n;
		}
	}
	ssize_t got = pread(r->fd, p, n, (off_t)r->pos);
	if (got > 0)
		r->pos += (uint64_t)got;
	return got;
}
