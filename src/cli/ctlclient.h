/*
 * The CLI's side of the control socket: a blocking client that sends one
 * CtlRequest to the daemon of a home and reads its replies (progress frames,
 * then the final reply). See proto/shoal.proto, "Control protocol".
 */
#ifndef SHOAL_CLI_CTLCLIENT_H
#define SHOAL_CLI_CTLCLIENT_H

#include "proto/shoal.pb-c.h"
#include "util/progress.h"

/* Connects to home/ctl.sock. Returns an fd, or -ENOENT / -ECONNREFUSED when no
 * daemon runs there, or another -errno. */
int ctlclient_connect(const char *home);

/* Sends req and waits for its final reply, feeding progress frames to pr
 * (may be NULL). Returns 0 with *rep set (free with
 * shoal__ctl_reply__free_unpacked(rep, NULL)), or a negative code when the
 * daemon went away or answered nonsense. */
int ctlclient_call(int fd, Shoal__CtlRequest *req, struct progress *pr, Shoal__CtlReply **rep);

#endif
