/*
 * Chunks kept in a working tree; see located.h.
 */
#include "store/located.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

static int prepare_chunk(struct index *ix, const char *sql, const uint8_t id[CHUNK_ID_LEN],
			 sqlite3_stmt **st)
{
	int err = index_sql_prepare(ix, sql, st);
	if (!err)
		sqlite3_bind_blob(*st, 1, id, CHUNK_ID_LEN, SQLITE_TRANSIENT);
	return err;
}

int located_set(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const struct located *loc)
{
	sqlite3_stmt *st;
	int err = prepare_chunk(ix,
				"INSERT OR REPLACE INTO located(chunk, path, offset, size, key)"
				" VALUES(?, ?, ?, ?, ?)",
				id, &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 2, loc->path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)loc->offset);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)loc->size);
	sqlite3_bind_blob(st, 5, loc->key, CHUNK_KEY_LEN, SQLITE_TRANSIENT);
	return index_sql_run(ix, st);
}

/* Fills *out from st's row (chunk, path, offset, size, key); -1 when the
 * row is malformed. */
static int read_row(sqlite3_stmt *st, uint8_t id[CHUNK_ID_LEN], struct located *out)
{
	const unsigned char *path = sqlite3_column_text(st, 1);
	if (sqlite3_column_bytes(st, 0) != CHUNK_ID_LEN ||
	    sqlite3_column_bytes(st, 4) != CHUNK_KEY_LEN || !path)
		return -1;
	memcpy(id, sqlite3_column_blob(st, 0), CHUNK_ID_LEN);
	snprintf(out->path, sizeof(out->path), "%s", (const char *)path);
	out->offset = (uint64_t)sqlite3_column_int64(st, 2);
	out->size = (uint32_t)sqlite3_column_int64(st, 3);
	memcpy(out->key, sqlite3_column_blob(st, 4), CHUNK_KEY_LEN);
	return 0;
}

int located_get(struct index *ix, const uint8_t id[CHUNK_ID_LEN], struct located *out, size_t max,
		size_t *n)
{
	sqlite3_stmt *st;
	int err = prepare_chunk(ix,
				"SELECT chunk, path, offset, size, key FROM located WHERE chunk = ?"
				" LIMIT ?",
				id, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	*n = 0;
	int rc;
	uint8_t got[CHUNK_ID_LEN];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		if (!read_row(st, got, &out[*n]))
			(*n)++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = index_sql_error(ix, sqlite3_sql(st));
	else if (!*n)
		err = SHOAL_ENOTFOUND;
	sqlite3_finalize(st);
	return err;
}

int located_remove(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const char *path)
{
	sqlite3_stmt *st;
	int err = prepare_chunk(ix, "DELETE FROM located WHERE chunk = ? AND path = ?", id, &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
	return index_sql_run(ix, st);
}

int located_move(struct index *ix, const char *from, const char *to)
{
	sqlite3_stmt *st;
	int err = index_sql_prepare(ix, "UPDATE OR REPLACE located SET path = ?2 WHERE path = ?1",
				    &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_TRANSIENT);
	return index_sql_run(ix, st);
}

int located_in(struct index *ix, const char *path, located_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = index_sql_prepare(ix,
				    "SELECT chunk, path, offset, size, key FROM located"
				    " INDEXED BY located_by_path WHERE path = ?",
				    &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
	int rc, ret = 0;
	struct located loc;
	uint8_t id[CHUNK_ID_LEN];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_row(st, id, &loc))
			continue;
		if ((ret = fn(id, &loc, arg)))
			break;
	}
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = index_sql_error(ix, "located_in");
	sqlite3_finalize(st);
	return ret;
}

int located_read(const struct located *loc, const uint8_t id[CHUNK_ID_LEN], uint8_t *out,
		 size_t cap, size_t *len)
{
	if (cap < (size_t)loc->size + CHUNK_TAG_LEN)
		return SHOAL_ETOOBIG;
	int fd = open(loc->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? SHOAL_EMISSING
									     : -errno;
	size_t got = 0;
	int err = 0;
	while (got < loc->size) {
		ssize_t n = pread(fd, out + got, loc->size - got, (off_t)(loc->offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) {
			err = SHOAL_EMISSING; /* shorter than when it was scanned */
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (err)
		return err == -EISDIR ? SHOAL_EMISSING : err;
	uint8_t sealed_id[CHUNK_ID_LEN];
	err = seal_encrypt(loc->key, out, loc->size, out, sealed_id);
	if (err)
		return err;
	if (memcmp(sealed_id, id, CHUNK_ID_LEN))
		return SHOAL_EMISSING; /* changed since it was scanned */
	*len = (size_t)loc->size + CHUNK_TAG_LEN;
	return 0;
}

int located_read_alloc(const struct located *loc, const uint8_t id[CHUNK_ID_LEN], uint8_t **out,
		       size_t *len)
{
	size_t cap = (size_t)loc->size + CHUNK_TAG_LEN;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	int err = located_read(loc, id, buf, cap, len);
	if (err)
		free(buf);
	else
		*out = buf;
	return err;
}
