/*
 * The temporaries of restores. A get writes its output beside the path the
 * user named, as a temporary file or tree ".shoal-get-<16 hex digits>", and
 * renames it into place only when everything checked out; a get that is
 * killed leaves it behind. So every such temporary is noted in the home
 * (home/restores/<16 hex digits>, holding its absolute path) before it is
 * created, and the note is dropped once the temporary was renamed into
 * place or removed. restore_temp_sweep(), run whenever the store opens
 * (daemon or offline command), removes the temporaries of notes that remain:
 * only a path named by a note whose name matches the path's own digits, never
 * anything else, and never following a symbolic link.
 */
#ifndef SHOAL_STORE_RESTORES_H
#define SHOAL_STORE_RESTORES_H

#include <limits.h>

/* The prefix of every restore temporary's name. */
#define RESTORE_TEMP_PREFIX ".shoal-get-"

/* One noted temporary. */
struct restore_temp {
	char path[PATH_MAX]; /* the temporary's absolute path */
	char note[PATH_MAX]; /* its note in the home, or "" when none */
	const char *home;    /* borrowed from restore_temp_note(), or NULL */
};

/*
 * Picks a new temporary name in the directory of out_path (whose trailing
 * slashes are ignored; the directory must exist) and, when home is not NULL,
 * notes it durably under home before returning (a home out of space leaves
 * it un-noted rather than failing the restore). Creates nothing at t->path:
 * the caller does, with O_EXCL or mkdir, and calls restore_temp_forget()
 * once it was renamed or removed. Returns 0 or -errno (nothing noted).
 */
int restore_temp_note(const char *home, const char *out_path, struct restore_temp *t);

/*
 * Puts the finished temporary t at out_path (trailing slashes ignored) and
 * drops its note. Without replace, never over anything: an existing
 * out_path gives SHOAL_EEXIST and both are left as they were. With replace,
 * over whatever is there (a file, a link, a directory tree) atomically: the
 * two are exchanged (renameat2 RENAME_EXCHANGE), so out_path is always
 * either the old one or the new one, then the old one is removed from the
 * temporary's place (still noted, so a kill meanwhile leaves it to the
 * sweep). Where the file system cannot exchange, a file replaces a file by
 * rename; otherwise the old one is moved aside to a noted temporary first.
 * Finally fsyncs out_path's directory. Returns 0 or an error (then t is
 * still the caller's to remove).
 */
int restore_temp_install(struct restore_temp *t, const char *out_path, int replace);

/* Drops t's note (the temporary is gone or in place). Safe to call twice. */
void restore_temp_forget(struct restore_temp *t);

/*
 * Removes what remains of every noted temporary (a file, or a tree and all
 * in it) and the notes. Returns how many temporaries were removed, or -errno
 * when the notes cannot be read; a note it cannot act on is left alone.
 */
int restore_temp_sweep(const char *home);

#endif
