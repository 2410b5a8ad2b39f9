/*
 * Interruption by the user: SIGINT, SIGTERM and SIGHUP set a flag that long
 * operations poll between steps, so they stop at a safe point and clean up
 * (a get removes its temp file, a put rolls back its index transaction).
 */
#ifndef SHOAL_UTIL_INTERRUPT_H
#define SHOAL_UTIL_INTERRUPT_H

/* Installs the handlers (without SA_RESTART, so blocking reads return). */
void interrupt_install(void);
/* Returns non-zero once one of the signals arrived. */
int interrupt_pending(void);

#endif
