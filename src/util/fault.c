/*
 * Fault injection for tests; see fault.h. The rules are written once (from
 * SHOAL_FAULTS at the first check, or by fault_configure) and then only read;
 * the per-op counters are atomics, so checks from many threads need no lock.
 */
#include "util/fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"
#include "util/log.h"

#define RULES_MAX 16
#define SPEC_MAX  512

struct rule {
	enum fault_op op;
	unsigned long nth; /* 1-based */
	int and_later;	   /* the "+" form */
	int err;	   /* negative errno */
};

static struct rule rules[RULES_MAX];
static atomic_int nrules;
static atomic_uint armed; /* bit per op that some rule names */
static atomic_ulong counts[FAULT_NOPS];
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static const char *const op_names[FAULT_NOPS] = {
	[FAULT_WRITE] = "write",
	[FAULT_FSYNC] = "fsync",
	[FAULT_RENAME] = "rename",
};

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{"EIO", EIO},	  {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
	{"EFBIG", EFBIG}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES}, {"EPERM", EPERM},
};

const char *fault_op_name(enum fault_op op)
{
	return (unsigned)op < FAULT_NOPS ? op_names[op] : "?";
}

/* Parses one rule "OP:N[+][:ERR]" (NUL-terminated, no commas). */
static int parse_rule(char *s, struct rule *out)
{
	/* Split at the colons by hand: strtok would merge empty fields. */
	char *op = s;
	char *nth = strchr(op, ':');
	if (!nth)
		return SHOAL_EUSAGE;
	*nth++ = 0;
	char *err = strchr(nth, ':');
	if (err) {
		*err++ = 0;
		if (strchr(err, ':'))
			return SHOAL_EUSAGE;
	}
	out->op = FAULT_NOPS;
	for (unsigned i = 0; i < FAULT_NOPS; i++) {
		if (strcasecmp(op, op_names[i]) == 0)
			out->op = (enum fault_op)i;
	}
	if (out->op == FAULT_NOPS)
		return SHOAL_EUSAGE;
	/* Digits only: strtoul would take signs and spaces. */
	size_t digits = strspn(nth, "0123456789");
	if (digits == 0 || digits > 9)
		return SHOAL_EUSAGE;
	out->and_later = 0;
	if (nth[digits] == '+') {
		out->and_later = 1;
		if (nth[digits + 1])
			return SHOAL_EUSAGE;
	} else if (nth[digits]) {
		return SHOAL_EUSAGE;
	}
	out->nth = strtoul(nth, NULL, 10);
	if (out->nth == 0)
		return SHOAL_EUSAGE;
	out->err = -EIO;
	if (err) {
		size_t i;
		for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
			if (strcasecmp(err, errnos[i].name) == 0)
				break;
		}
		if (i == sizeof(errnos) / sizeof(errnos[0]))
			return SHOAL_EUSAGE;
		out->err = -errnos[i].err;
	}
	return 0;
}

/* Fills rules[] from spec; returns the count or SHOAL_EUSAGE. */
static int parse_spec(const char *spec)
{
	char copy[SPEC_MAX];
	size_t len = strlen(spec);
	if (len >= sizeof(copy))
		return SHOAL_EUSAGE;
	memcpy(copy, spec, len + 1);
	int n = 0;
	/* An empty item is a typo, not something to skip. */
	char *item = copy;
	for (;;) {
		char *comma = strchr(item, ',');
		if (comma)
			*comma = 0;
		if (!*item || n == RULES_MAX)
			return SHOAL_EUSAGE;
		int err = parse_rule(item, &rules[n]);
		if (err)
			return err;
		n++;
		if (!comma)
			break;
		item = comma + 1;
	}
	return n;
}

/* Sets the rules from spec; everything disarmed while it runs. */
static int apply(const char *spec)
{
	atomic_store(&armed, 0);
	atomic_store(&nrules, 0);
	for (unsigned i = 0; i < FAULT_NOPS; i++)
		atomic_store(&counts[i], 0);
	if (!spec || !*spec)
		return 0;
	int n = parse_spec(spec);
	if (n < 0)
		return n;
	unsigned mask = 0;
	for (int i = 0; i < n; i++)
		mask |= 1u << rules[i].op;
	atomic_store(&nrules, n);
	/* Sequentially consistent: whoever sees the mask sees the rules. */
	atomic_store(&armed, mask);
	return 0;
}

static void load_env(void)
{
	const char *spec = getenv("SHOAL_FAULTS");
	if (spec && apply(spec))
		log_warnx("SHOAL_FAULTS=%s: malformed (want OP:N[+][:ERR],...); no fault injected",
			  spec);
}

int fault_configure(const char *spec)
{
	pthread_once(&env_once, load_env);
	return apply(spec);
}

int fault_armed(enum fault_op op)
{
	pthread_once(&env_once, load_env);
	return (unsigned)op < FAULT_NOPS && (atomic_load(&armed) & (1u << op)) != 0;
}

int fault_check(enum fault_op op)
{
	if (!fault_armed(op))
		return 0;
	unsigned long nth = atomic_fetch_add(&counts[op], 1) + 1;
	int n = atomic_load(&nrules);
	for (int i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		if (r->op != op || nth < r->nth || (nth > r->nth && !r->and_later))
			continue;
		log_info("fault injected: %s #%lu fails with \"%s\"", op_names[op], nth,
			 shoal_strerror(r->err));
		return r->err;
	}
	return 0;
}

unsigned long fault_count(enum fault_op op)
{
	return (unsigned)op < FAULT_NOPS ? atomic_load(&counts[op]) : 0;
}
