/*
 * Folders' tables in the index; see folderdb.h. Statements are prepared per
 * call, as in index.c.
 */
#include "store/folderdb.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static void bind_blob(sqlite3_stmt *st, int col, const void *p, size_t n)
{
	sqlite3_bind_blob(st, col, p, (int)n, SQLITE_TRANSIENT);
}

static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
	sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
}

/* Copies a blob column of exactly n bytes; -1 when it is not one. */
static int column_blob(sqlite3_stmt *st, int col, void *out, size_t n)
{
	if ((size_t)sqlite3_column_bytes(st, col) != n)
		return -1;
	memcpy(out, sqlite3_column_blob(st, col), n);
	return 0;
}

static void column_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* Prepares sql and binds the folder id to parameter 1. */
static int prepare_folder(struct index *ix, const char *sql, const uint8_t id[FOLDER_ID_LEN],
			  sqlite3_stmt **st)
{
	int err = index_sql_prepare(ix, sql, st);
	if (!err)
		bind_blob(*st, 1, id, FOLDER_ID_LEN);
	return err;
}

/* Steps st once: 0 with a row, SHOAL_ENOTFOUND without; the caller reads
 * the row, then finalizes. */
static int step_one(struct index *ix, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? SHOAL_ENOTFOUND : index_sql_error(ix, sqlite3_sql(st));
}

/* Steps st to the end, calling each(st, arg) per row until it returns
 * non-zero (returned); finalizes. */
static int step_all(struct index *ix, sqlite3_stmt *st, int (*each)(sqlite3_stmt *, void *),
		    void *arg)
{
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((ret = each(st, arg)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = index_sql_error(ix, sqlite3_sql(st));
	sqlite3_finalize(st);
	return ret;
}

/* ---- folders ---- */

#define FOLDER_COLUMNS \
	"id, secret, label, root, dev, paused, stopped, index_id, seq, created, replicas"

static int folder_from_row(sqlite3_stmt *st, struct folderdb_folder *f)
{
	memset(f, 0, sizeof(*f));
	if (column_blob(st, 0, f->invite.id, FOLDER_ID_LEN) ||
	    column_blob(st, 1, f->invite.secret, FOLDER_SECRET_LEN))
		return SHOAL_EDB;
	column_text(st, 2, f->invite.label, sizeof(f->invite.label));
	column_text(st, 3, f->root, sizeof(f->root));
	f->dev = (uint64_t)sqlite3_column_int64(st, 4);
	f->paused = sqlite3_column_int(st, 5);
	column_text(st, 6, f->stopped, sizeof(f->stopped));
	f->index_id = (uint64_t)sqlite3_column_int64(st, 7);
	f->seq = (uint64_t)sqlite3_column_int64(st, 8);
	f->created = sqlite3_column_int64(st, 9);
	f->replicas = (unsigned)sqlite3_column_int(st, 10);
	f->invite.replicas = f->replicas;
	return 0;
}

int folderdb_add(struct index *ix, const struct folderdb_folder *f)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "INSERT INTO folders(" FOLDER_COLUMNS
				 ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				 f->invite.id, &st);
	if (err)
		return err;
	bind_blob(st, 2, f->invite.secret, FOLDER_SECRET_LEN);
	bind_text(st, 3, f->invite.label);
	bind_text(st, 4, f->root);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)f->dev);
	sqlite3_bind_int(st, 6, f->paused);
	bind_text(st, 7, f->stopped);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)f->index_id);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)f->seq);
	sqlite3_bind_int64(st, 10, f->created);
	sqlite3_bind_int(st, 11, (int)f->replicas);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		err = 0;
	else if (sqlite3_extended_errcode(sqlite3_db_handle(st)) == SQLITE_CONSTRAINT_PRIMARYKEY ||
		 sqlite3_extended_errcode(sqlite3_db_handle(st)) == SQLITE_CONSTRAINT_UNIQUE)
		err = SHOAL_EEXIST;
	else
		err = index_sql_error(ix, "folder add");
	sqlite3_finalize(st);
	return err;
}

int folderdb_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN], struct folderdb_folder *out)
{
	sqlite3_stmt *st;
	int err =
		prepare_folder(ix, "SELECT " FOLDER_COLUMNS " FROM folders WHERE id = ?", id, &st);
	if (err)
		return err;
	err = step_one(ix, st);
	if (!err)
		err = folder_from_row(st, out);
	sqlite3_finalize(st);
	return err;
}

struct folder_walk {
	folderdb_folder_fn fn;
	void *arg;
};

static int each_folder(sqlite3_stmt *st, void *arg)
{
	struct folder_walk *w = arg;
	struct folderdb_folder f;
	int err = folder_from_row(st, &f);
	return err ? err : w->fn(&f, w->arg);
}

int folderdb_foreach(struct index *ix, folderdb_folder_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err =
		index_sql_prepare(ix, "SELECT " FOLDER_COLUMNS " FROM folders ORDER BY root", &st);
	if (err)
		return err;
	struct folder_walk w = {fn, arg};
	return step_all(ix, st, each_folder, &w);
}

/* Runs sql (no rows), bound to the folder id and then to the blob b of n
 * bytes (unless NULL) and the text t (unless NULL); SHOAL_ENOTFOUND when
 * must_change and no row changed. */
static int run_folder(struct index *ix, const char *sql, const uint8_t id[FOLDER_ID_LEN],
		      const void *b, size_t n, const char *t, int must_change)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix, sql, id, &st);
	if (err)
		return err;
	int col = 2;
	if (b)
		bind_blob(st, col++, b, n);
	if (t)
		bind_text(st, col++, t);
	sqlite3 *db = sqlite3_db_handle(st);
	err = index_sql_run(ix, st);
	if (!err && must_change && sqlite3_changes(db) == 0)
		err = SHOAL_ENOTFOUND;
	return err;
}

int folderdb_set_state(struct index *ix, const uint8_t id[FOLDER_ID_LEN], int paused,
		       const char *stopped)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE folders SET paused = %d%s WHERE id = ?1", paused ? 1 : 0,
		 stopped ? ", stopped = ?2" : "");
	return run_folder(ix, sql, id, NULL, 0, stopped, 1);
}

int folderdb_remove(struct index *ix, const uint8_t id[FOLDER_ID_LEN])
{
	static const char *const sql[] = {
		"DELETE FROM folder_rows WHERE folder = ?",
		"DELETE FROM folder_local WHERE folder = ?",
		"DELETE FROM folder_authors WHERE folder = ?",
		"DELETE FROM folder_batches WHERE folder = ?",
		"DELETE FROM folder_pending WHERE folder = ?",
		"DELETE FROM folder_held WHERE folder = ?",
		"DELETE FROM folder_kept WHERE folder = ?",
		"DELETE FROM folders WHERE id = ?",
	};
	int err = 0;
	for (size_t i = 0; !err && i < sizeof(sql) / sizeof(sql[0]); i++)
		err = run_folder(ix, sql[i], id, NULL, 0, NULL, 0);
	return err;
}

int folderdb_next_seq(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *seq)
{
	int err = run_folder(ix, "UPDATE folders SET seq = seq + 1 WHERE id = ?", id, NULL, 0, NULL,
			     1);
	if (err)
		return err;
	sqlite3_stmt *st;
	err = prepare_folder(ix, "SELECT seq FROM folders WHERE id = ?", id, &st);
	if (err)
		return err;
	err = step_one(ix, st);
	if (!err)
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return err;
}

/* ---- rows ---- */

#define ROW_COLUMNS                                                                         \
	"device, path, seq, vv, kind, modified_by, content_id, manifest, key, size, mode, " \
	"mtime_ns, deleted, prev_content_id, target"

static int row_from(sqlite3_stmt *st, uint8_t device[NODE_ID_LEN], struct folder_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (column_blob(st, 0, device, NODE_ID_LEN))
		return SHOAL_EDB;
	column_text(st, 1, e->path, sizeof(e->path));
	e->seq = (uint64_t)sqlite3_column_int64(st, 2);
	if (folder_vv_decode(&e->vv, sqlite3_column_blob(st, 3),
			     (size_t)sqlite3_column_bytes(st, 3)))
		return SHOAL_EDB;
	e->kind = (enum folder_kind)sqlite3_column_int(st, 4);
	e->modified_by = (uint64_t)sqlite3_column_int64(st, 5);
	if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
		if (column_blob(st, 6, e->content_id, SHA256_LEN) ||
		    column_blob(st, 7, e->cap.id, CHUNK_ID_LEN) ||
		    column_blob(st, 8, e->cap.key, CHUNK_KEY_LEN))
			return SHOAL_EDB;
		e->has_content = 1;
	}
	e->size = (uint64_t)sqlite3_column_int64(st, 9);
	e->mode = (uint32_t)sqlite3_column_int(st, 10);
	e->mtime_ns = sqlite3_column_int64(st, 11);
	e->deleted = sqlite3_column_int(st, 12);
	if (sqlite3_column_type(st, 13) != SQLITE_NULL) {
		if (column_blob(st, 13, e->prev_content_id, SHA256_LEN))
			return SHOAL_EDB;
		e->has_prev = 1;
	}
	column_text(st, 14, e->target, sizeof(e->target));
	return 0;
}

int folderdb_row_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		     const uint8_t device[NODE_ID_LEN], const char *path, struct folder_entry *out)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT " ROW_COLUMNS " FROM folder_rows"
				 " WHERE folder = ? AND device = ? AND path = ?",
				 id, &st);
	if (err)
		return err;
	bind_blob(st, 2, device, NODE_ID_LEN);
	bind_text(st, 3, path);
	err = step_one(ix, st);
	uint8_t dev[NODE_ID_LEN];
	if (!err)
		err = row_from(st, dev, out);
	sqlite3_finalize(st);
	return err;
}

/* The content the row of (device, path) names stops being live when e
 * replaces it with another one, or is a tombstone: it stays for
 * FOLDERDB_KEEP_SECONDS (folder_kept). */
static int keep_replaced(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			 const uint8_t device[NODE_ID_LEN], const struct folder_entry *e)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix,
		"INSERT INTO folder_kept(folder, manifest, until)"
		" SELECT folder, manifest, CAST(strftime('%s', 'now') AS INTEGER) + ?4"
		" FROM folder_rows WHERE folder = ?1 AND device = ?2 AND path = ?3"
		" AND manifest IS NOT NULL AND (?5 OR ?6 IS NULL OR manifest != ?6)"
		" ON CONFLICT(folder, manifest) DO UPDATE SET until = max(until, excluded.until)",
		id, &st);
	if (err)
		return err;
	bind_blob(st, 2, device, NODE_ID_LEN);
	bind_text(st, 3, e->path);
	sqlite3_bind_int64(st, 4, FOLDERDB_KEEP_SECONDS);
	sqlite3_bind_int(st, 5, e->deleted ? 1 : 0);
	if (e->has_content && !e->deleted)
		bind_blob(st, 6, e->cap.id, CHUNK_ID_LEN);
	err = index_sql_run(ix, st);
	if (err || !e->deleted || !e->has_content)
		return err;
	/* A tombstone's last content, from the day it is written. */
	err = prepare_folder(ix,
			     "INSERT INTO folder_kept(folder, manifest, until)"
			     " VALUES(?1, ?2, CAST(strftime('%s', 'now') AS INTEGER) + ?3)"
			     " ON CONFLICT(folder, manifest) DO UPDATE SET until ="
			     " max(until, excluded.until)",
			     id, &st);
	if (err)
		return err;
	bind_blob(st, 2, e->cap.id, CHUNK_ID_LEN);
	sqlite3_bind_int64(st, 3, FOLDERDB_KEEP_SECONDS);
	return index_sql_run(ix, st);
}

int folderdb_kept_expire(struct index *ix, int64_t now)
{
	sqlite3_stmt *st;
	int err = index_sql_prepare(ix, "DELETE FROM folder_kept WHERE until < ?", &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, now);
	return index_sql_run(ix, st);
}

int folderdb_row_put(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		     const uint8_t device[NODE_ID_LEN], const struct folder_entry *e)
{
	sqlite3_stmt *st;
	int err = keep_replaced(ix, id, device, e);
	if (err)
		return err;
	err = prepare_folder(ix,
			     "INSERT OR REPLACE INTO folder_rows(folder, " ROW_COLUMNS
			     ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			     id, &st);
	if (err)
		return err;
	uint8_t vv[16 * FOLDER_VV_MAX];
	size_t vv_len = folder_vv_encode(&e->vv, vv);
	bind_blob(st, 2, device, NODE_ID_LEN);
	bind_text(st, 3, e->path);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)e->seq);
	bind_blob(st, 5, vv, vv_len);
	sqlite3_bind_int(st, 6, (int)e->kind);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)e->modified_by);
	if (e->has_content) {
		bind_blob(st, 8, e->content_id, SHA256_LEN);
		bind_blob(st, 9, e->cap.id, CHUNK_ID_LEN);
		bind_blob(st, 10, e->cap.key, CHUNK_KEY_LEN);
	}
	sqlite3_bind_int64(st, 11, (sqlite3_int64)e->size);
	sqlite3_bind_int(st, 12, (int)e->mode);
	sqlite3_bind_int64(st, 13, e->mtime_ns);
	sqlite3_bind_int(st, 14, e->deleted ? 1 : 0);
	if (e->has_prev)
		bind_blob(st, 15, e->prev_content_id, SHA256_LEN);
	bind_text(st, 16, e->target);
	return index_sql_run(ix, st);
}

int folderdb_rows_drop(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		       const uint8_t device[NODE_ID_LEN])
{
	return run_folder(ix, "DELETE FROM folder_rows WHERE folder = ? AND device = ?", id, device,
			  NODE_ID_LEN, NULL, 0);
}

struct row_walk {
	folderdb_row_fn fn;
	void *arg;
};

static int each_row(sqlite3_stmt *st, void *arg)
{
	struct row_walk *w = arg;
	uint8_t device[NODE_ID_LEN];
	struct folder_entry *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	int err = row_from(st, device, e);
	if (!err)
		err = w->fn(device, e, w->arg);
	free(e);
	return err;
}

static int walk_rows(struct index *ix, sqlite3_stmt *st, folderdb_row_fn fn, void *arg)
{
	struct row_walk w = {fn, arg};
	return step_all(ix, st, each_row, &w);
}

int folderdb_rows_of_path(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
			  folderdb_row_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT " ROW_COLUMNS
				 " FROM folder_rows INDEXED BY folder_rows_by_path"
				 " WHERE folder = ? AND path = ? ORDER BY device",
				 id, &st);
	if (err)
		return err;
	bind_text(st, 2, path);
	return walk_rows(ix, st, fn, arg);
}

int folderdb_rows_since(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			const uint8_t device[NODE_ID_LEN], uint64_t after, size_t max,
			folderdb_row_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err =
		prepare_folder(ix,
			       "SELECT " ROW_COLUMNS " FROM folder_rows"
			       " WHERE folder = ? AND device = ? AND seq > ? ORDER BY seq LIMIT ?",
			       id, &st);
	if (err)
		return err;
	bind_blob(st, 2, device, NODE_ID_LEN);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)after);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
	return walk_rows(ix, st, fn, arg);
}

int folderdb_rows_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const uint8_t *device,
			  folderdb_row_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 device ? "SELECT " ROW_COLUMNS " FROM folder_rows"
					  " WHERE folder = ? AND device = ? ORDER BY path"
					: "SELECT " ROW_COLUMNS " FROM folder_rows"
					  " WHERE folder = ? ORDER BY path, device",
				 id, &st);
	if (err)
		return err;
	if (device)
		bind_blob(st, 2, device, NODE_ID_LEN);
	return walk_rows(ix, st, fn, arg);
}

int folderdb_rows_prefix_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			       const uint8_t device[NODE_ID_LEN], const char *prefix,
			       uint64_t *count)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT count(*) FROM folder_rows WHERE folder = ? AND device = ?"
				 " AND deleted = 0 AND substr(path, 1, length(?3)) = ?3",
				 id, &st);
	if (err)
		return err;
	bind_blob(st, 2, device, NODE_ID_LEN);
	bind_text(st, 3, prefix);
	err = step_one(ix, st);
	if (!err)
		*count = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return err;
}

int folderdb_rows_by_content(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			     const uint8_t content_id[SHA256_LEN], folderdb_row_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT " ROW_COLUMNS
				 " FROM folder_rows INDEXED BY folder_rows_by_content"
				 " WHERE folder = ? AND content_id = ? AND deleted = 0"
				 " ORDER BY device, path",
				 id, &st);
	if (err)
		return err;
	bind_blob(st, 2, content_id, SHA256_LEN);
	return walk_rows(ix, st, fn, arg);
}

/* ---- local state ---- */

#define LOCAL_COLUMNS "path, kind, dev, ino, size, mode, mtime_ns, ctime_ns, content_id"

static void local_from(sqlite3_stmt *st, struct folderdb_local *l)
{
	memset(l, 0, sizeof(*l));
	column_text(st, 0, l->path, sizeof(l->path));
	l->kind = (enum folder_kind)sqlite3_column_int(st, 1);
	l->dev = (uint64_t)sqlite3_column_int64(st, 2);
	l->ino = (uint64_t)sqlite3_column_int64(st, 3);
	l->size = (uint64_t)sqlite3_column_int64(st, 4);
	l->mode = (uint32_t)sqlite3_column_int(st, 5);
	l->mtime_ns = sqlite3_column_int64(st, 6);
	l->ctime_ns = sqlite3_column_int64(st, 7);
	l->has_content = !column_blob(st, 8, l->content_id, SHA256_LEN);
}

static int local_one(struct index *ix, sqlite3_stmt *st, struct folderdb_local *out)
{
	int err = step_one(ix, st);
	if (!err)
		local_from(st, out);
	sqlite3_finalize(st);
	return err;
}

int folderdb_local_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
		       struct folderdb_local *out)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix, "SELECT " LOCAL_COLUMNS " FROM folder_local WHERE folder = ? AND path = ?", id,
		&st);
	if (err)
		return err;
	bind_text(st, 2, path);
	return local_one(ix, st, out);
}

int folderdb_local_put(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		       const struct folderdb_local *l)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "INSERT OR REPLACE INTO folder_local(folder, " LOCAL_COLUMNS
				 ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				 id, &st);
	if (err)
		return err;
	bind_text(st, 2, l->path);
	sqlite3_bind_int(st, 3, (int)l->kind);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)l->dev);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)l->ino);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)l->size);
	sqlite3_bind_int(st, 7, (int)l->mode);
	sqlite3_bind_int64(st, 8, l->mtime_ns);
	sqlite3_bind_int64(st, 9, l->ctime_ns);
	if (l->has_content)
		bind_blob(st, 10, l->content_id, SHA256_LEN);
	return index_sql_run(ix, st);
}

int folderdb_local_remove(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path)
{
	return run_folder(ix, "DELETE FROM folder_local WHERE folder = ? AND path = ?", id, NULL, 0,
			  path, 0);
}

int folderdb_local_by_inode(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t dev,
			    uint64_t ino, const char *except, struct folderdb_local *out)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT " LOCAL_COLUMNS
				 " FROM folder_local INDEXED BY folder_local_by_inode"
				 " WHERE folder = ? AND dev = ? AND ino = ? AND path != ? LIMIT 1",
				 id, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)dev);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
	bind_text(st, 4, except ? except : "");
	return local_one(ix, st, out);
}

struct local_walk {
	folderdb_local_fn fn;
	void *arg;
};

static int each_local(sqlite3_stmt *st, void *arg)
{
	struct local_walk *w = arg;
	struct folderdb_local *l = malloc(sizeof(*l));
	if (!l)
		return -ENOMEM;
	local_from(st, l);
	int err = w->fn(l, w->arg);
	free(l);
	return err;
}

int folderdb_local_pending_with(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
				const uint8_t content_id[SHA256_LEN], const char *except,
				folderdb_local_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix,
		"SELECT " LOCAL_COLUMNS " FROM folder_local l INDEXED BY folder_local_by_content"
		" WHERE folder = ?1 AND content_id = ?2"
		" AND kind = 0 AND path != ?3 AND EXISTS (SELECT 1 FROM folder_pending p"
		" WHERE p.folder = ?1 AND p.path = l.path) ORDER BY path",
		id, &st);
	if (err)
		return err;
	bind_blob(st, 2, content_id, SHA256_LEN);
	bind_text(st, 3, except);
	struct local_walk w = {fn, arg};
	return step_all(ix, st, each_local, &w);
}

int folderdb_local_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], folderdb_local_fn fn,
			   void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix, "SELECT " LOCAL_COLUMNS " FROM folder_local WHERE folder = ? ORDER BY path", id,
		&st);
	if (err)
		return err;
	struct local_walk w = {fn, arg};
	return step_all(ix, st, each_local, &w);
}

/* The single integer sql yields for the folder. */
static int count_of(struct index *ix, const char *sql, const uint8_t id[FOLDER_ID_LEN],
		    uint64_t *count)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix, sql, id, &st);
	if (err)
		return err;
	err = step_one(ix, st);
	if (!err)
		*count = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return err;
}

int folderdb_local_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *count)
{
	return count_of(ix, "SELECT count(*) FROM folder_local WHERE folder = ?", id, count);
}

/* ---- authors and batches ---- */

static int author_from(sqlite3_stmt *st, struct folderdb_author *a)
{
	if (column_blob(st, 0, a->author, NODE_ID_LEN) || column_blob(st, 3, a->hash, SHA256_LEN))
		return SHOAL_EDB;
	a->index_id = (uint64_t)sqlite3_column_int64(st, 1);
	a->seq = (uint64_t)sqlite3_column_int64(st, 2);
	return 0;
}

int folderdb_author_get(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			const uint8_t author[NODE_ID_LEN], struct folderdb_author *out)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT author, index_id, seq, hash FROM folder_authors"
				 " WHERE folder = ? AND author = ?",
				 id, &st);
	if (err)
		return err;
	bind_blob(st, 2, author, NODE_ID_LEN);
	err = step_one(ix, st);
	if (!err)
		err = author_from(st, out);
	sqlite3_finalize(st);
	return err;
}

int folderdb_author_set(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			const struct folderdb_author *a)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "INSERT OR REPLACE INTO folder_authors(folder, author, index_id,"
				 " seq, hash) VALUES(?, ?, ?, ?, ?)",
				 id, &st);
	if (err)
		return err;
	bind_blob(st, 2, a->author, NODE_ID_LEN);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)a->index_id);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)a->seq);
	bind_blob(st, 5, a->hash, SHA256_LEN);
	return index_sql_run(ix, st);
}

struct author_walk {
	folderdb_author_fn fn;
	void *arg;
};

static int each_author(sqlite3_stmt *st, void *arg)
{
	struct author_walk *w = arg;
	struct folderdb_author a;
	int err = author_from(st, &a);
	return err ? err : w->fn(&a, w->arg);
}

int folderdb_authors_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			     folderdb_author_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "SELECT author, index_id, seq, hash FROM folder_authors"
				 " WHERE folder = ? ORDER BY author",
				 id, &st);
	if (err)
		return err;
	struct author_walk w = {fn, arg};
	return step_all(ix, st, each_author, &w);
}

int folderdb_batch_add(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
		       const uint8_t author[NODE_ID_LEN], uint64_t first_seq, uint64_t last_seq,
		       int64_t time_us, const uint8_t *data, size_t len)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix,
				 "INSERT OR REPLACE INTO folder_batches(folder, author, first_seq,"
				 " last_seq, time, data) VALUES(?, ?, ?, ?, ?, ?)",
				 id, &st);
	if (err)
		return err;
	bind_blob(st, 2, author, NODE_ID_LEN);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)first_seq);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)last_seq);
	sqlite3_bind_int64(st, 5, time_us);
	bind_blob(st, 6, data, len);
	return index_sql_run(ix, st);
}

struct batch_walk {
	folderdb_batch_fn fn;
	void *arg;
};

static int each_batch(sqlite3_stmt *st, void *arg)
{
	struct batch_walk *w = arg;
	return w->fn((uint64_t)sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
		     sqlite3_column_int64(st, 2), sqlite3_column_blob(st, 3),
		     (size_t)sqlite3_column_bytes(st, 3), w->arg);
}

int folderdb_batches_after(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			   const uint8_t author[NODE_ID_LEN], uint64_t after, folderdb_batch_fn fn,
			   void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix,
		"SELECT first_seq, last_seq, time, data FROM folder_batches"
		" WHERE folder = ? AND author = ? AND last_seq > ? ORDER BY first_seq",
		id, &st);
	if (err)
		return err;
	bind_blob(st, 2, author, NODE_ID_LEN);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)after);
	struct batch_walk w = {fn, arg};
	return step_all(ix, st, each_batch, &w);
}

int folderdb_batches_drop(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			  const uint8_t author[NODE_ID_LEN])
{
	return run_folder(ix, "DELETE FROM folder_batches WHERE folder = ? AND author = ?", id,
			  author, NODE_ID_LEN, NULL, 0);
}

/* ---- pending paths and holds ---- */

int folderdb_pending_add(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path)
{
	return run_folder(ix, "INSERT OR IGNORE INTO folder_pending(folder, path) VALUES(?, ?)", id,
			  NULL, 0, path, 0);
}

int folderdb_pending_remove(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path)
{
	return run_folder(ix, "DELETE FROM folder_pending WHERE folder = ? AND path = ?", id, NULL,
			  0, path, 0);
}

struct path_walk {
	folderdb_path_fn fn;
	void *arg;
};

/* Rows of (path, origin) or (path, why). */
static int each_path(sqlite3_stmt *st, void *arg)
{
	struct path_walk *w = arg;
	uint8_t origin[NODE_ID_LEN];
	const char *why = "";
	int has_origin = 0;
	if (sqlite3_column_type(st, 1) == SQLITE_BLOB)
		has_origin = !column_blob(st, 1, origin, NODE_ID_LEN);
	else if (sqlite3_column_text(st, 1))
		why = (const char *)sqlite3_column_text(st, 1);
	return w->fn((const char *)sqlite3_column_text(st, 0), has_origin ? origin : NULL, why,
		     w->arg);
}

int folderdb_pending_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], size_t max,
			     folderdb_path_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix, "SELECT path, why FROM folder_pending WHERE folder = ? ORDER BY path LIMIT ?",
		id, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	struct path_walk w = {fn, arg};
	return step_all(ix, st, each_path, &w);
}

int folderdb_pending_wanting(struct index *ix, const uint8_t id[FOLDER_ID_LEN],
			     const uint8_t content_id[SHA256_LEN], const char *except, char *out)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix,
		"SELECT r.path FROM folder_rows r INDEXED BY folder_rows_by_content"
		" WHERE r.folder = ?1 AND r.content_id = ?2 AND r.deleted = 0 AND r.kind = 0"
		" AND r.path != ?3 AND EXISTS (SELECT 1 FROM folder_pending p"
		" WHERE p.folder = ?1 AND p.path = r.path) LIMIT 1",
		id, &st);
	if (err)
		return err;
	bind_blob(st, 2, content_id, SHA256_LEN);
	bind_text(st, 3, except);
	if (!(err = step_one(ix, st)))
		column_text(st, 0, out, FOLDER_PATH_MAX + 1);
	sqlite3_finalize(st);
	return err;
}

int folderdb_pending_note(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
			  const char *why)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix, "UPDATE folder_pending SET why = ?2 WHERE folder = ?1 AND path = ?3", id, &st);
	if (err)
		return err;
	bind_text(st, 2, why);
	bind_text(st, 3, path);
	return index_sql_run(ix, st);
}

int folderdb_pending_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *count)
{
	return count_of(ix, "SELECT count(*) FROM folder_pending WHERE folder = ?", id, count);
}

int folderdb_held_add(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path,
		      const uint8_t origin[NODE_ID_LEN])
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix, "INSERT OR IGNORE INTO folder_held(folder, path, origin) VALUES(?, ?, ?)", id,
		&st);
	if (err)
		return err;
	bind_text(st, 2, path);
	bind_blob(st, 3, origin, NODE_ID_LEN);
	return index_sql_run(ix, st);
}

int folderdb_held_has(struct index *ix, const uint8_t id[FOLDER_ID_LEN], const char *path)
{
	sqlite3_stmt *st;
	int err = prepare_folder(ix, "SELECT 1 FROM folder_held WHERE folder = ? AND path = ?", id,
				 &st);
	if (err)
		return err;
	bind_text(st, 2, path);
	err = step_one(ix, st);
	sqlite3_finalize(st);
	return err == 0 ? 1 : err == SHOAL_ENOTFOUND ? 0 : err;
}

int folderdb_held_foreach(struct index *ix, const uint8_t id[FOLDER_ID_LEN], folderdb_path_fn fn,
			  void *arg)
{
	sqlite3_stmt *st;
	int err = prepare_folder(
		ix, "SELECT path, origin FROM folder_held WHERE folder = ? ORDER BY path, origin",
		id, &st);
	if (err)
		return err;
	struct path_walk w = {fn, arg};
	return step_all(ix, st, each_path, &w);
}

int folderdb_held_count(struct index *ix, const uint8_t id[FOLDER_ID_LEN], uint64_t *count)
{
	return count_of(ix, "SELECT count(*) FROM folder_held WHERE folder = ?", id, count);
}

int folderdb_held_clear(struct index *ix, const uint8_t id[FOLDER_ID_LEN])
{
	return run_folder(ix, "DELETE FROM folder_held WHERE folder = ?", id, NULL, 0, NULL, 0);
}

int folderdb_abs_path(const struct folderdb_folder *f, const char *path, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "%s/%s", f->root, path);
	return n < size ? 0 : -ENAMETOOLONG;
}
