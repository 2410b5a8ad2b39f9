/* See folderstore.h. */
#include "node/folderstore.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "node/fetch.h"
#include "store/files.h"
#include "util/error.h"
#include "util/fsutil.h"

/* A file in memory holding p[0..n), read from its start. */
static int memfd_of(const void *p, size_t n)
{
	int fd = memfd_create("shoal-folder-journal", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = write_in_full(fd, p, n);
	if (!err && lseek(fd, 0, SEEK_SET))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* The file cap names, held here, into out: at most max bytes. */
static int read_local(struct store *s, const struct capability *cap, struct buf *out, uint64_t max)
{
	int fd = memfd_create("shoal-folder-journal", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = files_get_into(s, cap, fd, NULL);
	if (!err && fstat(fd, &st))
		err = -errno;
	if (!err && (uint64_t)st.st_size > max)
		err = SHOAL_EPROTO;
	if (!err) {
		buf_reset(out);
		buf_grow(out, (size_t)st.st_size);
		ssize_t got = pread(fd, out->data, (size_t)st.st_size, 0);
		if (got != st.st_size)
			err = got < 0 ? -errno : -EIO;
		else
			buf_setlen(out, (size_t)got);
	}
	close(fd);
	return err;
}

struct collect {
	struct buf *b;
	uint64_t last;
};

static int take_batch(uint64_t first_seq, uint64_t last_seq, int64_t time_us, const uint8_t *data,
		      size_t len, void *arg)
{
	struct collect *c = arg;
	(void)first_seq;
	(void)time_us;
	folderjournal_add(c->b, data, len);
	c->last = last_seq;
	return c->b->len > FOLDERJOURNAL_MAX ? SHOAL_ETOOBIG : 0;
}

static int pin_self(void *arg, struct index *ix, const struct capability *cap, uint64_t size)
{
	(void)size;
	return index_pin_add(ix, cap->id, arg);
}

/* What the pointer old (kept here) names, or SHOAL_ENOTFOUND. */
static int open_local(const struct folderstore_env *env, const struct capability *old,
		      struct folderjournal_pointer *p)
{
	struct buf b = BUF_INIT;
	int err = read_local(env->s, old, &b, FOLDERJOURNAL_POINTER_LEN);
	if (!err)
		err = folderjournal_pointer_open(env->keys, b.data, b.len, p);
	buf_release(&b);
	return err ? SHOAL_ENOTFOUND : 0;
}

/* Lets the pointer old go, and its journal unless it is still the one. */
static void release_old(const struct folderstore_env *env, const struct capability *old,
			const struct folderjournal_pointer *was, const struct capability *journal)
{
	struct store *s = env->s;
	if (index_begin(s->index))
		return;
	int err = index_pin_remove(s->index, old->id, env->self);
	if (!err && was && memcmp(was->journal.id, journal->id, CHUNK_ID_LEN))
		err = index_pin_remove(s->index, was->journal.id, env->self);
	if (err)
		index_rollback(s->index);
	else
		store_commit_releasing(s);
}

int folderstore_publish(const struct folderstore_env *env, unsigned copies,
			const struct capability *old, struct capability *pointer,
			uint64_t *pointer_size, uint64_t *last_seq)
{
	struct store *s = env->s;
	const struct folderdb_folder *f = env->f;
	struct buf j = BUF_INIT, pb = BUF_INIT;
	struct collect c = {.b = &j};
	int err = folderdb_batches_after(s->index, f->invite.id, env->self, 0, take_batch, &c);
	if (!err && !j.len)
		err = SHOAL_ENOTFOUND;
	struct folderjournal_pointer was, p = {.index_id = f->index_id, .last_seq = c.last};
	int have_old = old && !open_local(env, old, &was);
	if (!err && have_old && was.index_id == p.index_id && was.last_seq == p.last_seq) {
		/* What is published already says as much. */
		*pointer = *old;
		*last_seq = p.last_seq;
		err = SHOAL_EEXIST;
	}
	int fd = -1;
	if (!err && (fd = memfd_of(j.data, j.len)) < 0)
		err = fd;
	struct files_binder binder = {
		.secret = env->keys->convergence, .bind = pin_self, .arg = (void *)env->self};
	if (!err)
		err = files_put_bound(s, fd, &binder, &p.journal, &p.size);
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (!err)
		err = folderjournal_pointer_seal(env->keys, &p, &pb);
	if (!err && (fd = memfd_of(pb.data, pb.len)) < 0)
		err = fd;
	if (!err)
		err = files_put_kept(s, fd, env->self, NULL, NULL, pointer, pointer_size);
	if (fd >= 0)
		close(fd);
	/* Short until repair placed them: status says so meanwhile. */
	if (!err)
		err = index_copies_want_refs(s->index, p.journal.id, copies);
	if (!err)
		err = index_short_refs(s->index, p.journal.id, 1);
	if (!err)
		err = index_copies_want_refs(s->index, pointer->id, copies);
	if (!err)
		err = index_short_refs(s->index, pointer->id, 1);
	if (!err && old && memcmp(old->id, pointer->id, CHUNK_ID_LEN))
		release_old(env, old, have_old ? &was : NULL, &p.journal);
	if (!err)
		*last_seq = p.last_seq;
	buf_release(&j);
	buf_release(&pb);
	return err;
}

/* Fetches the file cap names and reads it into out (at most max bytes),
 * letting go of what was fetched. */
static int fetch_read(const struct folderstore_env *env, const struct capability *cap,
		      struct buf *out, uint64_t max, char *why, size_t why_size)
{
	struct fetch f = {.r = env->remote,
			  .s = env->s,
			  .ix = env->s->index,
			  .peers = env->peers,
			  .npeers = env->npeers};
	uint8_t token[CHUNK_ID_LEN];
	int err = random_bytes(token, sizeof(token));
	if (err)
		return err;
	err = fetch_into(&f, cap, token);
	if (err && why)
		snprintf(why, why_size, "%s", f.why[0] ? f.why : shoal_strerror(err));
	if (!err)
		err = read_local(env->s, cap, out, max);
	fetch_release(&f, token);
	return err;
}

int folderstore_pointer(const struct folderstore_env *env, const struct capability *pointer,
			struct folderjournal_pointer *p, char *why, size_t why_size)
{
	struct buf pb = BUF_INIT;
	if (why && why_size)
		why[0] = 0;
	int err = fetch_read(env, pointer, &pb, FOLDERJOURNAL_POINTER_LEN, why, why_size);
	if (!err && folderjournal_pointer_open(env->keys, pb.data, pb.len, p)) {
		err = SHOAL_EPROTO;
		if (why)
			snprintf(why, why_size, "%s", "a pointer that does not open under the key");
	}
	buf_release(&pb);
	return err;
}

int folderstore_journal(const struct folderstore_env *env, const struct folderjournal_pointer *p,
			struct buf *journal, char *why, size_t why_size)
{
	if (why && why_size)
		why[0] = 0;
	int err = fetch_read(env, &p->journal, journal, p->size, why, why_size);
	if (!err && journal->len != p->size) {
		err = SHOAL_EPROTO;
		if (why)
			snprintf(why, why_size, "%s",
				 "a journal of another size than its pointer says");
	}
	return err;
}
