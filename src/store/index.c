/*
 * SQLite index; see index.h. Statements are prepared per call: the index is
 * touched once per chunk at most, far below SQLite's cost of preparing.
 */
#include "store/index.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/identity.h"
#include "proto/name.h"
#include "store/folderdb.h"
#include "store/located.h"
#include "util/error.h"
#include "util/log.h"

struct index {
	sqlite3 *db;
	unsigned depth; /* transactions open: the outermost, then savepoints */
};

static const char schema[] = "CREATE TABLE IF NOT EXISTS chunks("
			     " id BLOB PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS refs("
			     " manifest BLOB NOT NULL, chunk BLOB NOT NULL,"
			     " PRIMARY KEY(manifest, chunk)) WITHOUT ROWID;"
			     "CREATE INDEX IF NOT EXISTS refs_by_chunk ON refs(chunk);"
			     "CREATE TABLE IF NOT EXISTS names("
			     " name TEXT PRIMARY KEY, cap TEXT NOT NULL, manifest BLOB NOT NULL,"
			     " size INTEGER NOT NULL, created INTEGER NOT NULL,"
			     " last_version INTEGER NOT NULL DEFAULT 1);"
			     "CREATE INDEX IF NOT EXISTS names_by_manifest ON names(manifest);"
			     "CREATE TABLE IF NOT EXISTS versions("
			     " name TEXT NOT NULL, version INTEGER NOT NULL, cap TEXT NOT NULL,"
			     " manifest BLOB NOT NULL, size INTEGER NOT NULL,"
			     " created INTEGER NOT NULL, sender BLOB,"
			     " PRIMARY KEY(name, version));"
			     "CREATE INDEX IF NOT EXISTS versions_by_manifest"
			     " ON versions(manifest);"
			     "CREATE TABLE IF NOT EXISTS pending("
			     " token BLOB PRIMARY KEY, created INTEGER NOT NULL) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS pins("
			     " chunk BLOB NOT NULL, node BLOB NOT NULL,"
			     " PRIMARY KEY(chunk, node)) WITHOUT ROWID;"
			     "CREATE INDEX IF NOT EXISTS pins_by_node ON pins(node);"
			     "CREATE TABLE IF NOT EXISTS placed("
			     " chunk BLOB NOT NULL, node BLOB NOT NULL,"
			     " PRIMARY KEY(chunk, node)) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS unpins("
			     " chunk BLOB NOT NULL, node BLOB NOT NULL,"
			     " PRIMARY KEY(node, chunk)) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS repaired("
			     " chunk BLOB NOT NULL, node BLOB NOT NULL,"
			     " PRIMARY KEY(chunk, node)) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS copies("
			     " chunk BLOB PRIMARY KEY, replicas INTEGER NOT NULL) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS short("
			     " chunk BLOB PRIMARY KEY, have INTEGER NOT NULL) WITHOUT ROWID;"
			     "CREATE TABLE IF NOT EXISTS members("
			     " id BLOB PRIMARY KEY, addr TEXT NOT NULL, last_seen INTEGER NOT NULL,"
			     " nickname TEXT NOT NULL DEFAULT '')"
			     " WITHOUT ROWID;" FOLDERDB_SCHEMA LOCATED_SCHEMA;
#define SCHEMA_VERSION 10
/* What each older version lacks, run in order after the schema above (whose
 * CREATE ... IF NOT EXISTS leaves existing tables as they were). */
static const char *const upgrades[] = {
	[3] = "ALTER TABLE members ADD COLUMN nickname TEXT NOT NULL DEFAULT '';",
	/* Every name had one version, which becomes version 1. */
	[4] = "INSERT OR IGNORE INTO versions(name, version, cap, manifest, size, created)"
	      " SELECT name, 1, cap, manifest, size, created FROM names;"
	      "ALTER TABLE names ADD COLUMN last_version INTEGER NOT NULL DEFAULT 1;",
	/* Every version was put here: no sender (NULL). */
	[5] = "ALTER TABLE versions ADD COLUMN sender BLOB;",
	/* Folders' tables come whole from the schema. */
	[6] = "",
	/* Located chunks' table comes whole from the schema. */
	[8] = "",
	/* Tombstones kept their last content for ever; now for a while. */
	[9] = "INSERT OR IGNORE INTO folder_kept(folder, manifest, until)"
	      " SELECT folder, manifest, CAST(strftime('%s', 'now') AS INTEGER) + 2592000"
	      " FROM folder_rows WHERE deleted = 1 AND manifest IS NOT NULL;",
};

/* Logs the error and maps it: a full disk and an I/O error say so; anything
 * else is SHOAL_EDB. */
static int db_error(struct index *ix, const char *what)
{
	log_info("index: %s: %s", what, sqlite3_errmsg(ix->db));
	switch (sqlite3_errcode(ix->db)) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_IOERR:
		return -EIO;
	default:
		return SHOAL_EDB;
	}
}

/* The schema's version as stored, or -1. */
static int schema_version(struct index *ix)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(ix->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Brings a database at version (0: new) to SCHEMA_VERSION in one
 * transaction. Returns 0 or -1 (the error is the connection's). */
static int schema_upgrade(struct index *ix, int version)
{
	if (sqlite3_exec(ix->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	/* A new database gets every table whole from the schema; an old one
	 * gets the tables it lacks, then the changes of each version since. */
	int ok = sqlite3_exec(ix->db, schema, NULL, NULL, NULL) == SQLITE_OK;
	for (int v = version > 0 ? version : SCHEMA_VERSION; ok && v < SCHEMA_VERSION; v++) {
		if (v < (int)(sizeof(upgrades) / sizeof(upgrades[0])) && upgrades[v] &&
		    sqlite3_exec(ix->db, upgrades[v], NULL, NULL, NULL) != SQLITE_OK)
			/* A table the schema just made whole has the column. */
			ok = strstr(sqlite3_errmsg(ix->db), "duplicate column") != NULL;
	}
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (ok)
		ok = sqlite3_exec(ix->db, pragma, NULL, NULL, NULL) == SQLITE_OK;
	if (ok && sqlite3_exec(ix->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int index_open(struct index **out, const char *path)
{
	return index_open_mode(out, path, 0);
}

/* Tightens the database and its -wal and -shm files when other users could
 * read them (created under a loose umask, or by an older version). By path
 * only: opening and closing the file here would drop the POSIX locks every
 * SQLite connection of this process holds on it. */
static void make_private(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char name[4096];
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		struct stat st;
		if ((size_t)snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) <
			    sizeof(name) &&
		    !stat(name, &st) && (st.st_mode & 077) && chmod(name, st.st_mode & 0700))
			log_warnx("cannot make %s private: %s", name, strerror(errno));
	}
}

int index_open_mode(struct index **out, const char *path, int exclusive)
{
	struct index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	int err = 0, version;
	if (sqlite3_open_v2(path, &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		err = db_error(ix, "open");
		goto out;
	}
	sqlite3_busy_timeout(ix->db, 10000);
	/* Keep the WAL and its index (-shm) files when the last connection
	 * closes: reopening then creates nothing, so a full disk still opens. */
	int persist = 1;
	sqlite3_file_control(ix->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	/* Alone, the connection keeps the WAL index in its own memory: no -shm
	 * file to create (set before the first access). */
	if (exclusive &&
	    sqlite3_exec(ix->db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK) {
		err = db_error(ix, "locking mode");
		goto out;
	}
	/* An index already at this version is opened without writing, so that a
	 * full disk still lets the store be read. */
	if (sqlite3_exec(ix->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "PRAGMA foreign_keys=ON;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    ((version = schema_version(ix)) != SCHEMA_VERSION && schema_upgrade(ix, version))) {
		err = db_error(ix, "schema");
		goto out;
	}
	make_private(path);
out:
	if (err) {
		index_close(ix);
		return err;
	}
	*out = ix;
	return 0;
}

void index_close(struct index *ix)
{
	if (!ix)
		return;
	sqlite3_close(ix->db);
	free(ix);
}

static int exec(struct index *ix, const char *sql)
{
	if (sqlite3_exec(ix->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(ix, sql);
	return 0;
}

int index_begin(struct index *ix)
{
	int err = exec(ix, ix->depth ? "SAVEPOINT nested" : "BEGIN IMMEDIATE");
	if (!err)
		ix->depth++;
	return err;
}

int index_commit(struct index *ix)
{
	if (ix->depth > 1) {
		int err = exec(ix, "RELEASE nested");
		if (!err)
			ix->depth--;
		return err;
	}
	int err = exec(ix, "COMMIT");
	/* A failed COMMIT may leave the transaction open (busy) or not. */
	if (!err || sqlite3_get_autocommit(ix->db))
		ix->depth = 0;
	return err;
}

void index_rollback(struct index *ix)
{
	if (sqlite3_get_autocommit(ix->db)) {
		/* Nothing open: SQLite rolled it all back after an error. */
		ix->depth = 0;
		return;
	}
	if (ix->depth > 1) {
		sqlite3_exec(ix->db, "ROLLBACK TO nested; RELEASE nested", NULL, NULL, NULL);
		ix->depth--;
		return;
	}
	sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	ix->depth = 0;
}

static int prepare(struct index *ix, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(ix->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_error(ix, sql);
	return 0;
}

/* Runs a statement that returns no rows, then finalizes it. */
static int run(struct index *ix, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE ? 0 : db_error(ix, sqlite3_sql(st));
	sqlite3_finalize(st);
	return err;
}

int index_sql_prepare(struct index *ix, const char *sql, sqlite3_stmt **st)
{
	return prepare(ix, sql, st);
}

int index_sql_run(struct index *ix, sqlite3_stmt *st)
{
	return run(ix, st);
}

int index_sql_error(struct index *ix, const char *what)
{
	return db_error(ix, what);
}

static int run_each(struct index *ix, const char *const *sql, size_t n, const uint8_t id[32]);

static void bind_id(sqlite3_stmt *st, int col, const uint8_t id[CHUNK_ID_LEN])
{
	sqlite3_bind_blob(st, col, id, CHUNK_ID_LEN, SQLITE_TRANSIENT);
}

/* Copies a 32-byte blob column; returns -1 when the column is not one. */
static int column_id(sqlite3_stmt *st, int col, uint8_t id[CHUNK_ID_LEN])
{
	if (sqlite3_column_bytes(st, col) != CHUNK_ID_LEN)
		return -1;
	memcpy(id, sqlite3_column_blob(st, col), CHUNK_ID_LEN);
	return 0;
}

int index_chunk_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], uint64_t size)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "INSERT OR IGNORE INTO chunks(id, size) VALUES(?, ?)", &st);
	if (err)
		return err;
	bind_id(st, 1, id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	return run(ix, st);
}

/* 1 when sql (bound to a, and to b unless NULL) yields a row, 0 when not, or
 * an error. */
static int row_exists(struct index *ix, const char *sql, const uint8_t a[CHUNK_ID_LEN],
		      const uint8_t b[CHUNK_ID_LEN])
{
	sqlite3_stmt *st;
	int err = prepare(ix, sql, &st);
	if (err)
		return err;
	bind_id(st, 1, a);
	if (b)
		bind_id(st, 2, b);
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_error(ix, sql);
	sqlite3_finalize(st);
	return ret;
}

int index_chunk_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN])
{
	return row_exists(ix, "SELECT 1 FROM chunks WHERE id = ?", id, NULL);
}

int index_chunk_remove(struct index *ix, const uint8_t id[CHUNK_ID_LEN])
{
	static const char *const sql[] = {
		"DELETE FROM chunks WHERE id = ?",
		"DELETE FROM short WHERE chunk = ?",
		"DELETE FROM located WHERE chunk = ?",
	};
	return run_each(ix, sql, sizeof(sql) / sizeof(sql[0]), id);
}

/* Steps st, calling fn(id column 0, size column 1) per row. */
static int foreach_chunk_row(struct index *ix, sqlite3_stmt *st, index_chunk_fn fn, void *arg)
{
	int ret = 0, rc;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t id[CHUNK_ID_LEN];
		if (column_id(st, 0, id))
			continue;
		ret = fn(id, (uint64_t)sqlite3_column_int64(st, 1), arg);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(ix, sqlite3_sql(st));
	sqlite3_finalize(st);
	return ret;
}

int index_chunks_foreach(struct index *ix, index_chunk_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "SELECT id, size FROM chunks ORDER BY id", &st);
	return err ? err : foreach_chunk_row(ix, st, fn, arg);
}

/* Runs sql (parameters: a chunk id, then a row limit) bound to after and
 * max, and calls fn with each (id, number) row. */
static int rows_after(struct index *ix, const char *sql, const uint8_t after[CHUNK_ID_LEN],
		      size_t max, index_chunk_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(ix, sql, &st);
	if (err)
		return err;
	bind_id(st, 1, after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	return foreach_chunk_row(ix, st, fn, arg);
}

int index_chunks_after(struct index *ix, const uint8_t after[CHUNK_ID_LEN], size_t max,
		       index_chunk_fn fn, void *arg)
{
	return rows_after(ix, "SELECT id, size FROM chunks WHERE id > ? ORDER BY id LIMIT ?", after,
			  max, fn, arg);
}

int index_missing_foreach(struct index *ix, index_chunk_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "SELECT DISTINCT chunk, 0 FROM refs"
			  " WHERE chunk NOT IN (SELECT id FROM chunks) ORDER BY chunk",
			  &st);
	return err ? err : foreach_chunk_row(ix, st, fn, arg);
}

int index_chunk_stats(struct index *ix, uint64_t *count, uint64_t *bytes)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "SELECT count(*), coalesce(sum(size), 0) FROM chunks", &st);
	if (err)
		return err;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*count = (uint64_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
	} else {
		err = db_error(ix, "stats");
	}
	sqlite3_finalize(st);
	return err;
}

int index_ref_add(struct index *ix, const uint8_t manifest[CHUNK_ID_LEN],
		  const uint8_t chunk[CHUNK_ID_LEN])
{
	sqlite3_stmt *st;
	int err = prepare(ix, "INSERT OR IGNORE INTO refs(manifest, chunk) VALUES(?, ?)", &st);
	if (err)
		return err;
	bind_id(st, 1, manifest);
	bind_id(st, 2, chunk);
	return run(ix, st);
}

int index_refs_move(struct index *ix, const uint8_t from[CHUNK_ID_LEN],
		    const uint8_t to[CHUNK_ID_LEN])
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "INSERT OR IGNORE INTO refs(manifest, chunk)"
			  " SELECT ?, chunk FROM refs WHERE manifest = ?",
			  &st);
	if (err)
		return err;
	bind_id(st, 1, to);
	bind_id(st, 2, from);
	err = run(ix, st);
	if (err)
		return err;
	err = prepare(ix, "DELETE FROM refs WHERE manifest = ?", &st);
	if (err)
		return err;
	bind_id(st, 1, from);
	return run(ix, st);
}

/* A file's health, the two columns name_from_row() reads last when a query
 * has them, for the manifest column m: the copies its chunks want, and the
 * fewest a short one has (NULL when none is: every copy is there). Listings
 * add them; the lookups of a get or send need not pay for them. */
#define HEALTH_COLUMNS(m)                                                       \
	", (SELECT coalesce(max(c.replicas), 1) FROM refs r LEFT JOIN copies c" \
	" ON c.chunk = r.chunk WHERE r.manifest = " m "),"                      \
	" (SELECT min(s.have) FROM refs r JOIN short s ON s.chunk = r.chunk"    \
	" WHERE r.manifest = " m ")"

/* The sender of the newest version of names n's name. */
#define NEWEST_SENDER \
	"(SELECT sender FROM versions v WHERE v.name = n.name ORDER BY v.version DESC LIMIT 1)"

/* The columns name_from_row() reads, from names n. */
#define NAME_COLUMNS                                                               \
	"n.name, n.cap, n.manifest, n.size, n.created,"                            \
	" (SELECT max(version) FROM versions v WHERE v.name = n.name),"            \
	" (SELECT count(*) FROM versions v WHERE v.name = n.name), " NEWEST_SENDER \
	", (SELECT m.nickname FROM members m WHERE m.id = " NEWEST_SENDER ")"

/* The same from versions v. */
#define VERSION_COLUMNS                                                       \
	"v.name, v.cap, v.manifest, v.size, v.created, v.version,"            \
	" (SELECT count(*) FROM versions w WHERE w.name = v.name), v.sender," \
	" (SELECT m.nickname FROM members m WHERE m.id = v.sender)"

/* Fills out from a row (name, cap, manifest, size, created, version,
 * versions, sender, sender's nickname), then HEALTH_COLUMNS if there (else
 * wanted and copies are 0). */
static int name_from_row(sqlite3_stmt *st, struct index_name *out)
{
	const unsigned char *name = sqlite3_column_text(st, 0);
	const unsigned char *cap = sqlite3_column_text(st, 1);
	if (!name || !cap || column_id(st, 2, out->manifest))
		return -1;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->cap, sizeof(out->cap), "%s", cap);
	out->size = (uint64_t)sqlite3_column_int64(st, 3);
	out->created = sqlite3_column_int64(st, 4);
	out->version = (uint32_t)sqlite3_column_int64(st, 5);
	out->versions = (uint32_t)sqlite3_column_int64(st, 6);
	/* A sender that is not a node id is no sender: the version was put. */
	out->received = column_id(st, 7, out->sender) == 0;
	if (!out->received)
		memset(out->sender, 0, sizeof(out->sender));
	const unsigned char *nick = sqlite3_column_text(st, 8);
	snprintf(out->sender_nickname, sizeof(out->sender_nickname), "%s",
		 out->received && nick ? (const char *)nick : "");
	out->wanted = out->copies = 0;
	if (sqlite3_column_count(st) > 10) {
		out->wanted = (unsigned)sqlite3_column_int64(st, 9);
		out->copies = sqlite3_column_type(st, 10) == SQLITE_NULL
				      ? out->wanted
				      : (unsigned)sqlite3_column_int64(st, 10);
	}
	return 0;
}

/* Steps st, a query of one name's row, into out: 0, SHOAL_ENOTFOUND or an
 * index error. Finalizes st. */
static int name_row(struct index *ix, sqlite3_stmt *st, struct index_name *out)
{
	int err, rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = name_from_row(st, out) ? SHOAL_EDB : 0;
	else if (rc == SQLITE_DONE)
		err = SHOAL_ENOTFOUND;
	else
		err = db_error(ix, "name lookup");
	sqlite3_finalize(st);
	return err;
}

/* Points names at the newest version of name left, or drops the name when
 * none is. last_version keeps the highest number the name ever had, so
 * that a number is not given twice while the name lives. */
static int name_point_newest(struct index *ix, const char *name)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "INSERT INTO names(name, cap, manifest, size, created, last_version)"
			  " SELECT name, cap, manifest, size, created, version FROM versions"
			  " WHERE name = ?1 ORDER BY version DESC LIMIT 1"
			  " ON CONFLICT(name) DO UPDATE SET cap = excluded.cap,"
			  " manifest = excluded.manifest, size = excluded.size,"
			  " created = excluded.created,"
			  " last_version = max(last_version, excluded.last_version)",
			  &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if ((err = run(ix, st)) || sqlite3_changes(ix->db))
		return err;
	err = prepare(ix, "DELETE FROM names WHERE name = ?", &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	return run(ix, st);
}

/* Inserts version number of n->name as n gives it (its sender when
 * received), then points names at the name's newest. 0, SHOAL_EEXIST (that
 * version exists) or SHOAL_EDB. */
static int version_insert(struct index *ix, const struct index_name *n, uint32_t number)
{
	sqlite3_stmt *st;
	int err =
		prepare(ix,
			"INSERT INTO versions(name, version, cap, manifest, size, created, sender)"
			" VALUES(?, ?, ?, ?, ?, ?, ?)",
			&st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, number);
	sqlite3_bind_text(st, 3, n->cap, -1, SQLITE_TRANSIENT);
	bind_id(st, 4, n->manifest);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n->size);
	sqlite3_bind_int64(st, 6, n->created);
	if (n->received)
		bind_id(st, 7, n->sender);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT) {
		sqlite3_finalize(st);
		return SHOAL_EEXIST;
	}
	err = rc == SQLITE_DONE ? 0 : db_error(ix, sqlite3_sql(st));
	sqlite3_finalize(st);
	return err ? err : name_point_newest(ix, n->name);
}

int index_name_set(struct index *ix, const struct index_name *n, uint32_t *version, int *added)
{
	struct index_name newest;
	int err = index_name_get(ix, n->name, &newest);
	if (err && err != SHOAL_ENOTFOUND)
		return err;
	if (!err && !memcmp(newest.manifest, n->manifest, CHUNK_ID_LEN)) {
		/* The same content as the newest version: nothing to add. */
		if (version)
			*version = newest.version;
		if (added)
			*added = 0;
		return 0;
	}
	uint32_t number = 1;
	sqlite3_stmt *st;
	if (!err) {
		err = prepare(ix, "SELECT last_version FROM names WHERE name = ?", &st);
		if (err)
			return err;
		sqlite3_bind_text(st, 1, n->name, -1, SQLITE_TRANSIENT);
		int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
		number = (uint32_t)(last > newest.version ? last : newest.version) + 1;
	}
	if ((err = version_insert(ix, n, number)))
		return err;
	if (version)
		*version = number;
	if (added)
		*added = 1;
	return 0;
}

/* How a clashing received name is told apart: the sender's nickname as
 * this node knows it, else the first 16 characters of its id. */
static int sender_label(struct index *ix, const uint8_t sender[32], char *out, size_t size)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "SELECT nickname FROM members WHERE id = ?", &st);
	if (err)
		return err;
	bind_id(st, 1, sender);
	const unsigned char *nick = NULL;
	if (sqlite3_step(st) == SQLITE_ROW)
		nick = sqlite3_column_text(st, 0);
	if (nick && nick[0]) {
		snprintf(out, size, "%s", (const char *)nick);
	} else {
		char sid[NODE_ID_STR_LEN + 1];
		node_id_format(sender, sid);
		snprintf(out, size, "%.16s", sid);
	}
	sqlite3_finalize(st);
	return 0;
}

/* Writes candidate number i for base into out (NAME_MAX_LEN + 1 bytes):
 * base itself, then "base (from LABEL)", then "base (from LABEL) i". The
 * base is cut at a UTF-8 boundary when the whole would be too long. */
static void receive_candidate(const char *base, const char *label, unsigned i, char *out)
{
	if (i == 0) {
		snprintf(out, NAME_MAX_LEN + 1, "%s", base);
		return;
	}
	char suffix[96];
	if (i == 1)
		snprintf(suffix, sizeof(suffix), " (from %s)", label);
	else
		snprintf(suffix, sizeof(suffix), " (from %s) %u", label, i);
	size_t room = NAME_MAX_LEN - strlen(suffix), len = strlen(base);
	if (len > room) {
		len = room;
		while (len > 0 && ((unsigned char)base[len] & 0xc0) == 0x80)
			len--;
	}
	snprintf(out, NAME_MAX_LEN + 1, "%.*s%s", (int)len, base, suffix);
}

int index_name_receive(struct index *ix, struct index_name *n, uint32_t *version, int *added)
{
	char base[sizeof(n->name)], label[64], candidate[NAME_MAX_LEN + 1];
	snprintf(base, sizeof(base), "%s", n->name);
	int err = sender_label(ix, n->sender, label, sizeof(label));
	for (unsigned i = 0; !err && i < INDEX_RECEIVE_TRIES; i++) {
		receive_candidate(base, label, i, candidate);
		if (name_validate(candidate, strlen(candidate)))
			continue;
		struct index_name cur;
		err = index_name_get(ix, candidate, &cur);
		if (err && err != SHOAL_ENOTFOUND)
			return err;
		/* Free, or the same sender's earlier send: a new version. Never
		 * over a file of this node's or of another sender. */
		if (err == SHOAL_ENOTFOUND ||
		    (cur.received && !memcmp(cur.sender, n->sender, sizeof(cur.sender)))) {
			snprintf(n->name, sizeof(n->name), "%s", candidate);
			n->received = 1;
			return index_name_set(ix, n, version, added);
		}
	}
	return err ? err : SHOAL_EEXIST;
}

int index_version_insert(struct index *ix, const struct index_name *n)
{
	if (n->version == 0)
		return SHOAL_EPROTO;
	return version_insert(ix, n, n->version);
}

int index_name_get(struct index *ix, const char *name, struct index_name *out)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "SELECT " NAME_COLUMNS " FROM names n WHERE n.name = ?", &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	return name_row(ix, st, out);
}

int index_version_get(struct index *ix, const char *name, uint32_t version, struct index_name *out)
{
	sqlite3_stmt *st;
	int err = prepare(
		ix, "SELECT " VERSION_COLUMNS " FROM versions v WHERE name = ? AND version = ?",
		&st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, version);
	return name_row(ix, st, out);
}

int index_name_remove(struct index *ix, const char *name)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "DELETE FROM names WHERE name = ?", &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	err = run(ix, st);
	if (!err && sqlite3_changes(ix->db) == 0)
		err = SHOAL_ENOTFOUND;
	if (err || (err = prepare(ix, "DELETE FROM versions WHERE name = ?", &st)))
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	return run(ix, st);
}

int index_version_remove(struct index *ix, const char *name, uint32_t version)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "DELETE FROM versions WHERE name = ? AND version = ?", &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, version);
	err = run(ix, st);
	if (!err && sqlite3_changes(ix->db) == 0)
		err = SHOAL_ENOTFOUND;
	return err ? err : name_point_newest(ix, name);
}

/* Steps st, calling fn with each row (see name_from_row()). */
static int foreach_name_row(struct index *ix, sqlite3_stmt *st, index_name_fn fn, void *arg)
{
	int ret = 0, rc;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct index_name n;
		if (!name_from_row(st, &n))
			ret = fn(&n, arg);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(ix, "names");
	sqlite3_finalize(st);
	return ret;
}

int index_names_foreach(struct index *ix, index_name_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(
		ix,
		"SELECT " NAME_COLUMNS HEALTH_COLUMNS("n.manifest") " FROM names n ORDER BY n.name",
		&st);
	return err ? err : foreach_name_row(ix, st, fn, arg);
}

int index_versions_foreach(struct index *ix, const char *name, index_name_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "SELECT " VERSION_COLUMNS HEALTH_COLUMNS(
				  "v.manifest") " FROM versions v WHERE name = ? ORDER BY "
						"version DESC",
			  &st);
	if (err)
		return err;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	return foreach_name_row(ix, st, fn, arg);
}

int index_pending_set(struct index *ix, const uint8_t token[CHUNK_ID_LEN], int set)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  set ? "INSERT OR IGNORE INTO pending(token, created) VALUES(?, "
				"strftime('%s'))"
			      : "DELETE FROM pending WHERE token = ?",
			  &st);
	if (err)
		return err;
	bind_id(st, 1, token);
	return run(ix, st);
}

int index_pending_has(struct index *ix, const uint8_t token[CHUNK_ID_LEN])
{
	return row_exists(ix, "SELECT 1 FROM pending WHERE token = ?", token, NULL);
}

int index_pending_clear(struct index *ix)
{
	return exec(ix, "DELETE FROM pending");
}

int index_collect_garbage(struct index *ix, index_chunk_fn fn, void *arg)
{
	int err = exec(ix, "DELETE FROM refs WHERE manifest NOT IN (SELECT manifest FROM names)"
			   " AND manifest NOT IN (SELECT manifest FROM versions)"
			   " AND manifest NOT IN (SELECT token FROM pending)"
			   " AND manifest NOT IN (SELECT chunk FROM pins)"
			   " AND manifest NOT IN (SELECT manifest FROM folder_rows"
			   " WHERE manifest IS NOT NULL AND deleted = 0)"
			   " AND manifest NOT IN (SELECT manifest FROM folder_kept)");
	/* Copies this node no longer needs anywhere: tell their holders. */
	if (!err)
		err = exec(ix, "INSERT OR IGNORE INTO unpins(chunk, node)"
			       " SELECT chunk, node FROM placed"
			       " WHERE chunk NOT IN (SELECT chunk FROM refs)"
			       " AND chunk NOT IN (SELECT chunk FROM pins)");
	if (!err)
		err = exec(ix, "DELETE FROM placed WHERE chunk NOT IN (SELECT chunk FROM refs)"
			       " AND chunk NOT IN (SELECT chunk FROM pins)");
	if (!err)
		err = exec(ix, "DELETE FROM repaired WHERE NOT EXISTS (SELECT 1 FROM placed"
			       " WHERE placed.chunk = repaired.chunk AND placed.node = "
			       "repaired.node)");
	if (err)
		return err;
	sqlite3_stmt *st;
	const char *orphans = "SELECT id, size FROM chunks WHERE id NOT IN (SELECT chunk FROM refs)"
			      " AND id NOT IN (SELECT chunk FROM pins)";
	if (fn) {
		err = prepare(ix, orphans, &st);
		if (!err)
			err = foreach_chunk_row(ix, st, fn, arg);
		if (err)
			return err;
	}
	err = exec(ix, "DELETE FROM chunks WHERE id NOT IN (SELECT chunk FROM refs)"
		       " AND id NOT IN (SELECT chunk FROM pins)");
	if (!err)
		err = exec(ix, "DELETE FROM copies WHERE chunk NOT IN (SELECT id FROM chunks)");
	if (!err)
		err = exec(ix, "DELETE FROM located WHERE chunk NOT IN (SELECT id FROM chunks)");
	return err;
}

int index_copies_want(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned replicas)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "INSERT INTO copies(chunk, replicas) VALUES(?, ?) ON CONFLICT(chunk)"
			  " DO UPDATE SET replicas = max(replicas, excluded.replicas)",
			  &st);
	if (err)
		return err;
	bind_id(st, 1, id);
	sqlite3_bind_int64(st, 2, replicas);
	return run(ix, st);
}

int index_copies_want_refs(struct index *ix, const uint8_t manifest[CHUNK_ID_LEN],
			   unsigned replicas)
{
	sqlite3_stmt *st;
	/* (WHERE true: an upsert after a SELECT needs it to parse.) */
	int err = prepare(ix,
			  "INSERT INTO copies(chunk, replicas) SELECT chunk, ?1 FROM refs"
			  " WHERE manifest = ?2 AND true ON CONFLICT(chunk)"
			  " DO UPDATE SET replicas = max(replicas, excluded.replicas)",
			  &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, replicas);
	bind_id(st, 2, manifest);
	return run(ix, st);
}

/* One row of one or two integers from sql, whose ?1 is id (when given). */
static int count_row(struct index *ix, const char *sql, const uint8_t *id, uint64_t *a, uint64_t *b)
{
	sqlite3_stmt *st;
	int err = prepare(ix, sql, &st);
	if (err)
		return err;
	if (id)
		bind_id(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*a = (uint64_t)sqlite3_column_int64(st, 0);
		if (b)
			*b = (uint64_t)sqlite3_column_int64(st, 1);
	} else {
		err = db_error(ix, sql);
	}
	sqlite3_finalize(st);
	return err;
}

int index_copies_get(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned *replicas)
{
	uint64_t r = 1;
	int err = count_row(ix, "SELECT coalesce(max(replicas), 1) FROM copies WHERE chunk = ?1",
			    id, &r, NULL);
	*replicas = (unsigned)r;
	return err;
}

int index_short_note(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned have,
		     unsigned wanted)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  have < wanted ? "INSERT INTO short(chunk, have) VALUES(?1, ?2)"
					  " ON CONFLICT(chunk) DO UPDATE SET have = excluded.have"
					: "DELETE FROM short WHERE chunk = ?1",
			  &st);
	if (err)
		return err;
	bind_id(st, 1, id);
	if (have < wanted)
		sqlite3_bind_int64(st, 2, have);
	return run(ix, st);
}

int index_short_refs(struct index *ix, const uint8_t manifest[CHUNK_ID_LEN], unsigned have)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "INSERT INTO short(chunk, have) SELECT r.chunk, ?2 FROM refs r"
			  " JOIN copies c ON c.chunk = r.chunk WHERE r.manifest = ?1"
			  " AND c.replicas > ?2 ON CONFLICT(chunk) DO UPDATE SET have = "
			  "excluded.have",
			  &st);
	if (err)
		return err;
	bind_id(st, 1, manifest);
	sqlite3_bind_int64(st, 2, have);
	return run(ix, st);
}

int index_short_get(struct index *ix, const uint8_t id[CHUNK_ID_LEN], unsigned *have)
{
	uint64_t n = 0, h = 0;
	int err =
		count_row(ix, "SELECT count(*), coalesce(min(have), 0) FROM short WHERE chunk = ?1",
			  id, &n, &h);
	if (err)
		return err;
	*have = (unsigned)h;
	return n ? 1 : 0;
}

int index_short_counts(struct index *ix, uint64_t *chunks, uint64_t *files)
{
	int err =
		count_row(ix, "SELECT count(*) FROM short WHERE chunk IN (SELECT chunk FROM refs)",
			  NULL, chunks, NULL);
	return err ? err
		   : count_row(ix,
			       "SELECT count(*) FROM names WHERE manifest IN (SELECT "
			       "r.manifest"
			       " FROM refs r JOIN short s ON s.chunk = r.chunk)",
			       NULL, files, NULL);
}

int index_copies_foreach(struct index *ix, const uint8_t after[CHUNK_ID_LEN], size_t max,
			 index_chunk_fn fn, void *arg)
{
	return rows_after(ix,
			  "SELECT chunk, replicas FROM copies WHERE replicas > 1 AND chunk > ?"
			  " AND chunk IN (SELECT id FROM chunks) ORDER BY chunk LIMIT ?",
			  after, max, fn, arg);
}

int index_wants_after(struct index *ix, const uint8_t after[CHUNK_ID_LEN], size_t max,
		      index_chunk_fn fn, void *arg)
{
	return rows_after(ix,
			  "SELECT c.id, coalesce(p.replicas, 1) FROM chunks c LEFT JOIN copies p"
			  " ON p.chunk = c.id WHERE c.id > ? ORDER BY c.id LIMIT ?",
			  after, max, fn, arg);
}

/* Runs sql with two id parameters. */
static int run_pair(struct index *ix, const char *sql, const uint8_t a[CHUNK_ID_LEN],
		    const uint8_t b[CHUNK_ID_LEN])
{
	sqlite3_stmt *st;
	int err = prepare(ix, sql, &st);
	if (err)
		return err;
	bind_id(st, 1, a);
	bind_id(st, 2, b);
	return run(ix, st);
}

int index_pin_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return run_pair(ix, "INSERT OR IGNORE INTO pins(chunk, node) VALUES(?, ?)", id, node);
}

int index_pin_remove(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return run_pair(ix, "DELETE FROM pins WHERE chunk = ? AND node = ?", id, node);
}

int index_chunk_referenced(struct index *ix, const uint8_t id[CHUNK_ID_LEN])
{
	return row_exists(ix, "SELECT 1 FROM refs WHERE chunk = ? LIMIT 1", id, NULL);
}

/* Runs each of sql[0..n), every one bound to id. */
static int run_each(struct index *ix, const char *const *sql, size_t n, const uint8_t id[32])
{
	sqlite3_stmt *st;
	int err = 0;
	for (size_t i = 0; !err && i < n; i++) {
		err = prepare(ix, sql[i], &st);
		if (!err) {
			bind_id(st, 1, id);
			err = run(ix, st);
		}
	}
	return err;
}

int index_surplus_drop(struct index *ix, const uint8_t id[CHUNK_ID_LEN])
{
	int err = index_chunk_referenced(ix, id);
	if (err)
		return err == 1 ? SHOAL_EEXIST : err; /* 1: a file of this node needs it */
	static const char *const sql[] = {
		"DELETE FROM pins WHERE chunk = ?", "DELETE FROM placed WHERE chunk = ?",
		"DELETE FROM repaired WHERE chunk = ?", "DELETE FROM copies WHERE chunk = ?"};
	return run_each(ix, sql, sizeof(sql) / sizeof(sql[0]), id);
}

int index_pins_clear(struct index *ix)
{
	return exec(ix, "DELETE FROM pins; DELETE FROM copies WHERE chunk NOT IN (SELECT "
			"chunk FROM refs)");
}

int index_node_drop(struct index *ix, const uint8_t node[32])
{
	static const char *const sql[] = {
		"DELETE FROM pins WHERE node = ?", "DELETE FROM placed WHERE node = ?",
		"DELETE FROM repaired WHERE node = ?", "DELETE FROM unpins WHERE node = ?"};
	return run_each(ix, sql, sizeof(sql) / sizeof(sql[0]), node);
}

int index_placed_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return run_pair(ix, "INSERT OR IGNORE INTO placed(chunk, node) VALUES(?, ?)", id, node);
}

int index_placed_release(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	int err = run_pair(ix, "INSERT OR IGNORE INTO unpins(chunk, node) VALUES(?, ?)", id, node);
	if (!err)
		err = run_pair(ix, "DELETE FROM placed WHERE chunk = ? AND node = ?", id, node);
	if (!err)
		err = run_pair(ix, "DELETE FROM repaired WHERE chunk = ? AND node = ?", id, node);
	return err;
}

int index_repaired_add(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	int err = index_placed_add(ix, id, node);
	if (!err)
		err = run_pair(ix, "INSERT OR IGNORE INTO repaired(chunk, node) VALUES(?, ?)", id,
			       node);
	return err;
}

int index_repaired_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return row_exists(ix, "SELECT 1 FROM repaired WHERE chunk = ? AND node = ?", id, node);
}

int index_chunk_pinned_any(struct index *ix, const uint8_t id[CHUNK_ID_LEN])
{
	return row_exists(ix, "SELECT 1 FROM pins WHERE chunk = ?1", id, NULL);
}

int index_pin_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return row_exists(ix, "SELECT 1 FROM pins WHERE chunk = ?1 AND node = ?2", id, node);
}

int index_placed_has(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return row_exists(ix,
			  "SELECT 1 FROM placed WHERE chunk = ?1 AND node = ?2"
			  " UNION ALL SELECT 1 FROM unpins WHERE chunk = ?1 AND node = ?2",
			  id, node);
}

int index_unpins_take(struct index *ix, size_t max, index_pair_fn fn, void *arg)
{
	/* A copy placed again since it was released is wanted after all. */
	int err = exec(ix, "DELETE FROM unpins WHERE EXISTS (SELECT 1 FROM placed"
			   " WHERE placed.chunk = unpins.chunk AND placed.node = unpins.node)");
	if (err)
		return err;
	sqlite3_stmt *st;
	err = prepare(ix, "SELECT chunk, node FROM unpins ORDER BY node, chunk LIMIT ?", &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	int rc, ret = 0;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t chunk[CHUNK_ID_LEN], node[32];
		if (column_id(st, 0, chunk) || column_id(st, 1, node))
			continue;
		ret = fn(chunk, node, arg);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(ix, "unpins");
	sqlite3_finalize(st);
	return ret;
}

int index_unpin_done(struct index *ix, const uint8_t id[CHUNK_ID_LEN], const uint8_t node[32])
{
	return run_pair(ix, "DELETE FROM unpins WHERE chunk = ? AND node = ?", id, node);
}

int index_member_set(struct index *ix, const struct index_member *m)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "INSERT INTO members(id, addr, last_seen, nickname) VALUES(?, ?, ?, ?)"
			  " ON CONFLICT(id) DO UPDATE SET addr = excluded.addr,"
			  " last_seen = max(last_seen, excluded.last_seen),"
			  " nickname = excluded.nickname",
			  &st);
	if (err)
		return err;
	bind_id(st, 1, m->id);
	sqlite3_bind_text(st, 2, m->addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, m->last_seen);
	sqlite3_bind_text(st, 4, m->nickname, -1, SQLITE_TRANSIENT);
	return run(ix, st);
}

int index_pin_bytes(struct index *ix, index_pin_bytes_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(ix,
			  "SELECT p.node, sum(c.size) FROM pins p JOIN chunks c ON c.id = p.chunk "
			  "GROUP BY p.node",
			  &st);
	if (err)
		return err;
	int ret = 0, rc;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t node[32];
		if (column_id(st, 0, node))
			continue;
		ret = fn(node, (uint64_t)sqlite3_column_int64(st, 1), arg);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(ix, "pin bytes");
	sqlite3_finalize(st);
	return ret;
}

int index_chunk_pinned_by(struct index *ix, const uint8_t id[CHUNK_ID_LEN],
			  const uint8_t (*nodes)[32], size_t n)
{
	if (!n)
		return 0;
	sqlite3_stmt *st;
	int err = prepare(ix, "SELECT node FROM pins WHERE chunk = ?", &st);
	if (err)
		return err;
	bind_id(st, 1, id);
	int found = 0, rc;
	while (!found && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t node[32];
		if (column_id(st, 0, node))
			continue;
		for (size_t i = 0; !found && i < n; i++)
			found = !memcmp(nodes[i], node, sizeof(node));
	}
	if (!found && rc != SQLITE_DONE)
		found = db_error(ix, "pins");
	sqlite3_finalize(st);
	return found;
}

int index_members_foreach(struct index *ix, index_member_fn fn, void *arg)
{
	sqlite3_stmt *st;
	int err = prepare(
		ix, "SELECT id, addr, last_seen, nickname FROM members ORDER BY last_seen DESC",
		&st);
	if (err)
		return err;
	int ret = 0, rc;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct index_member m;
		const unsigned char *addr = sqlite3_column_text(st, 1);
		if (column_id(st, 0, m.id) || !addr)
			continue;
		snprintf(m.addr, sizeof(m.addr), "%s", addr);
		m.last_seen = sqlite3_column_int64(st, 2);
		const unsigned char *nick = sqlite3_column_text(st, 3);
		snprintf(m.nickname, sizeof(m.nickname), "%s", nick ? (const char *)nick : "");
		ret = fn(&m, arg);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_error(ix, "members");
	sqlite3_finalize(st);
	return ret;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CHUNK_ID_LEN);
}

int index_members_retain(struct index *ix, const uint8_t (*keep)[32], size_t n)
{
	uint8_t(*sorted)[32] = NULL, (*drop)[32] = NULL;
	size_t ndrop = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int err = -ENOMEM, rc;
	if (n) {
		if (!(sorted = malloc(n * sizeof(*sorted))))
			goto out;
		memcpy(sorted, keep, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), id_cmp);
	}
	if ((err = prepare(ix, "SELECT id FROM members", &st)))
		goto out;
	/* Collected first: rows are not deleted under a running SELECT. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t id[32];
		if (column_id(st, 0, id) || (n && bsearch(id, sorted, n, sizeof(*sorted), id_cmp)))
			continue;
		if (ndrop == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			void *p = realloc(drop, ncap * sizeof(*drop));
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			drop = p;
			cap = ncap;
		}
		memcpy(drop[ndrop++], id, sizeof(id));
	}
	if (rc != SQLITE_DONE) {
		err = db_error(ix, "members");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; !err && i < ndrop; i++) {
		sqlite3_stmt *del;
		if ((err = prepare(ix, "DELETE FROM members WHERE id = ?", &del)))
			break;
		bind_id(del, 1, drop[i]);
		err = run(ix, del);
	}
out:
	sqlite3_finalize(st);
	free(sorted);
	free(drop);
	return err;
}

int index_integrity_check(struct index *ix)
{
	sqlite3_stmt *st;
	int err = prepare(ix, "PRAGMA integrity_check", &st);
	if (err)
		return err;
	err = SHOAL_EDB;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *res = sqlite3_column_text(st, 0);
		if (res && !strcmp((const char *)res, "ok"))
			err = 0;
		else
			log_warnx("index: integrity check: %s", res ? (const char *)res : "?");
	}
	sqlite3_finalize(st);
	return err;
}
