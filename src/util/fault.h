/*
 * Fault injection for tests: makes the Nth write, fsync or rename of the
 * store's file I/O fail with a chosen errno, so tests can show that a failing
 * disk fails the operation cleanly and acknowledges nothing it lost.
 *
 * It is compiled into every build but inert unless the environment variable
 * SHOAL_FAULTS is set (read once, at the first check); an inert check costs
 * one atomic load. It is meant for tests only; never set SHOAL_FAULTS on a
 * node that holds data you care about.
 *
 * SHOAL_FAULTS is a comma-separated list of rules OP:N[+][:ERR]:
 *   OP   write   a whole-buffer write to a regular file (write_in_full,
 *                pwrite_in_full: object files, get output, atomic files)
 *        fsync   fsync/fdatasync of a file, fsync of a directory, syncfs
 *        rename  the rename that puts a temp file in place
 *   N    the Nth such operation of the process (counting from 1) fails
 *   +    ... and so does every later one
 *   ERR  the errno injected: EIO (default), ENOSPC, EDQUOT, EROFS, EFBIG,
 *        ENOMEM, EACCES, EPERM (names are case-insensitive)
 * e.g. "write:5" (the 5th write fails with EIO), "fsync:3,write:2+:ENOSPC".
 * Only operations of an op that some rule names are counted. A malformed
 * SHOAL_FAULTS is reported once with log_warnx() and injects nothing.
 *
 * Each operation is counted once however many system calls it takes, and the
 * check happens before the operation touches the disk. Checks are thread-safe
 * (atomic counters); with several threads doing I/O at once, which thread
 * gets the Nth operation is up to the scheduler.
 */
#ifndef SHOAL_UTIL_FAULT_H
#define SHOAL_UTIL_FAULT_H

enum fault_op { FAULT_WRITE, FAULT_FSYNC, FAULT_RENAME, FAULT_NOPS };

/*
 * Counts one operation op and returns 0 when it may proceed, or the negative
 * errno a rule injects for it (the caller returns it as if the system call
 * had failed, cleaning up the same way). Always 0 when no rule names op.
 */
int fault_check(enum fault_op op);

/* 1 when some rule names op, else 0; lets a caller skip work (an fstat) that
 * only matters for counting. Does not count. */
int fault_armed(enum fault_op op);

/*
 * Replaces the rules with spec (the SHOAL_FAULTS syntax; NULL or "" disarms
 * everything) and restarts every count; the environment is then no longer
 * consulted. Returns 0, or SHOAL_EUSAGE for a malformed spec (which leaves
 * nothing armed). For tests: not to be called while other threads do I/O.
 */
int fault_configure(const char *spec);

/* How many operations op were counted since the rules were set. */
unsigned long fault_count(enum fault_op op);

/* "write", "fsync", "rename" (or "?"). */
const char *fault_op_name(enum fault_op op);

#endif
