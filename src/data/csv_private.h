/* Internals of the CSV loader, shared by csv.c (the bytes: fields, numbers, the passes over the
 * rows) and csv_table.c (the table: header, column choice, typing, the dataset). */
#ifndef NETSMITH_DATA_CSV_H
#define NETSMITH_DATA_CSV_H

#include <locale.h>

#include "data/dataset_private.h"

#define NS__CSV_MAX_FIELD ((size_t)1 << 20) /* bytes; a longer field is an error */
#define NS__CSV_MAX_ONE_HOT 1000            /* distinct values of a one-hot column */
#define NS__CSV_PROGRESS_ROWS 65536         /* rows between progress reports */

/* Grows *p (an array of *cap items of size bytes) to hold need items, doubling; false when out
 * of memory (the old array stays). */
bool ns__csv_grow(ns_ctx *ctx, void **p, size_t *cap, size_t need, size_t size);

/* ---- distinct values ------------------------------------------------------------------------- */

/* A set of byte strings (text values, or the 8 bytes of a double for numeric classes), in
 * insertion order, with an open-addressing index. After ns__csv_set_sort, rank[i] is the
 * position of entry i in sorted order (the class index or one-hot slot). Every key is stored
 * with a NUL after it, so text keys are C strings. */
typedef struct ns__csv_set {
    uint32_t *slots; /* [cap] entry index + 1, 0 = empty; cap is a power of two */
    size_t cap;
    size_t *off;    /* [n] key offsets in bytes */
    uint32_t *len;  /* [n] key lengths */
    uint32_t *hash; /* [n] */
    size_t n, ents_cap;
    char *bytes;
    size_t nbytes, bytes_cap;
    int32_t *rank; /* [n] after sorting */
} ns__csv_set;

/* Adds a key if it is new. NS_ERR_NOMEM on allocation failure (the set stays valid). */
ns_status ns__csv_set_add(ns_ctx *ctx, ns__csv_set *set, const void *key, size_t len);
/* The entry index of key, or -1. */
int32_t ns__csv_set_find(const ns__csv_set *set, const void *key, size_t len);
/* Ranks the entries: bytewise for text, by value for numeric (8-byte double) keys. */
ns_status ns__csv_set_sort(ns_ctx *ctx, ns__csv_set *set, bool numeric);
/* The key of entry i. */
static inline const char *ns__csv_set_key(const ns__csv_set *set, size_t i)
{
    return set->bytes + set->off[i];
}
void ns__csv_set_free(ns_ctx *ctx, ns__csv_set *set);

/* ---- fields ---------------------------------------------------------------------------------- */

/* How a field ended. */
typedef enum ns__csv_end { NS__CSV_END_DELIM, NS__CSV_END_ROW, NS__CSV_END_FILE } ns__csv_end;

/* Field-level defects. */
typedef enum ns__csv_lex {
    NS__CSV_LEX_OK = 0,
    NS__CSV_LEX_UNTERMINATED, /* a quoted field runs to the end of the text */
    NS__CSV_LEX_STRAY_QUOTE,  /* a quote inside an unquoted field */
    NS__CSV_LEX_AFTER_QUOTE,  /* text between a closing quote and the delimiter */
    NS__CSV_LEX_TOO_LONG      /* over NS__CSV_MAX_FIELD bytes */
} ns__csv_lex;

/* A cursor over the text. stop[b] is non-zero for the bytes that end an unquoted field. */
typedef struct ns__csv_lexer {
    const char *p, *end;
    int64_t line; /* physical line of p, 1-based */
    char delim;
    unsigned char stop[256];
} ns__csv_lexer;

/* One field. Unquoted content has the blanks around it removed (spaces, and tabs when tab is
 * not the delimiter); quoted content is what lies between the quotes, doubled quotes still
 * doubled (escaped says whether there are any). */
typedef struct ns__csv_field {
    const char *s;
    size_t n;
    int64_t line;     /* where the field starts */
    int64_t err_line; /* where a defect is (for NS__CSV_LEX_* other than OK) */
    bool quoted, escaped;
    ns__csv_end end;
} ns__csv_field;

void ns__csv_lexer_init(ns__csv_lexer *lx, const char *p, const char *end, int64_t line,
                        char delim);
/* Reads the field at lx->p and what ends it; lx moves past the delimiter or line end. */
ns__csv_lex ns__csv_read_field(ns__csv_lexer *lx, ns__csv_field *f);
/* Moves past blank lines; false at the end of the text. */
bool ns__csv_next_record(ns__csv_lexer *lx);

/* The offset of the first byte of s[n] that is not valid UTF-8 or is a NUL; n if none. */
size_t ns__csv_utf8_check(const char *s, size_t n);
/* Whether s[n] (a field's content, blanks removed) marks a missing value: "", nan, NaN, NAN
 * (each optionally signed, as printf writes "-nan"), NA, N/A. */
bool ns__csv_is_missing(const char *s, size_t n);

/* ---- the parse ------------------------------------------------------------------------------- */

/* What a column becomes. */
typedef enum ns__csv_kind {
    NS__CSV_SKIP = 0,    /* not used (excluded, or neither feature nor target) */
    NS__CSV_NUMBER,      /* a float feature or regression target */
    NS__CSV_ONE_HOT,     /* a text feature, one x column per distinct value */
    NS__CSV_CLASS_TEXT,  /* the classification target, classes by text */
    NS__CSV_CLASS_NUMBER /* the classification target, classes by numeric value */
} ns__csv_kind;

/* A field remembered for messages: it points into the text. line 0: none yet. */
typedef struct ns__csv_seen {
    int64_t line;
    const char *s;
    size_t n;
} ns__csv_seen;

/* Outcomes of reading a field as a number. */
typedef enum ns__csv_num {
    NS__CSV_NUM_OK = 0,
    NS__CSV_NUM_MISSING, /* a missing-value marker */
    NS__CSV_NUM_TEXT,    /* not a number */
    NS__CSV_NUM_INF,     /* inf, infinity (any case, signed) */
    NS__CSV_NUM_HEX,     /* 0x... */
    NS__CSV_NUM_RANGE    /* beyond the float range */
} ns__csv_num;

typedef struct ns__csv_col {
    char *name;    /* owned */
    bool feature;  /* chosen as a feature */
    bool excluded; /* listed in opts.exclude */
    int target;    /* target index, or -1 */
    ns__csv_kind kind;
    int slot;  /* first x column (features) or y column (regression targets) */
    int width; /* x columns it fills */
    /* what the scan saw (over every data row) */
    int64_t n_number, n_text, n_missing;
    bool all_integer; /* every number was written without '.' or exponent */
    bool collect;     /* the scan gathers distinct numbers into values */
    bool too_many;    /* ... and stopped: more than the class limit */
    ns__csv_seen first_number, first_text, first_missing, first_bad;
    ns__csv_num bad;    /* what first_bad is */
    ns__csv_set values; /* distinct values (classes or one-hot values) */
} ns__csv_col;

typedef struct ns__csv {
    ns_ctx *ctx;
    const char *name;       /* for messages */
    const char *text, *end; /* the text after any byte-order mark */
    const char *data;       /* the first data record */
    int64_t data_line;
    char delim;
    ns_csv_options opts;
    int max_classes;
    const ns_progress *progress;
    int ncols;
    ns__csv_col *cols; /* [ncols] */
    int n_features;    /* x columns */
    int n_targets;
    ns_task task;
    int64_t rows; /* data records */
    int64_t kept; /* rows after dropping those with missing values */
    /* The scan also writes the rows as if every used column were numeric (features at their
     * slots, targets as floats), into buffers sized by counting line ends; when the typing
     * agrees, the dataset takes them and the fill pass is skipped. spec turns false, for
     * good, at the first field that is not a number or a row past spec_cap. */
    bool spec;
    int64_t spec_cap;  /* rows the buffers hold */
    float *spec_x;     /* [spec_cap, n_features] */
    float *spec_y;     /* [spec_cap, n_targets] */
    char *scratch;     /* NS__CSV_MAX_FIELD + 1 bytes: unescaping, the slow number path */
    locale_t c_locale; /* for strtod and number formatting, whatever the app's locale */
    ns__data_store *store;
    bool header_only; /* ns_data_csv_columns: stop after the header */
} ns__csv;

/* Records "<name>: line L, column C ("col"): <message>" and returns status. col is 0-based
 * (-1 for none); the column name is added once the header is known. */
ns_status ns__csv_fail(ns__csv *c, ns_status status, int64_t line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The message for a field defect at column col. */
ns_status ns__csv_lex_fail(ns__csv *c, ns__csv_lex lex, const ns__csv_field *f, int col);
/* Writes s[n] for a message: quoted, shortened, control and invalid bytes as \xNN. */
void ns__csv_quote(char *buf, size_t cap, const char *s, size_t n);

/* Reads a field's content as a number (strict: see ns_data_load_csv). *integer says whether
 * it was written without '.' or exponent. */
ns__csv_num ns__csv_number(ns__csv *c, const char *s, size_t n, double *d, float *f, bool *integer);
/* A field's content with doubled quotes undone, in c->scratch when needed. */
const char *ns__csv_unescape(ns__csv *c, const ns__csv_field *f, size_t *n);

/* The passes over the data rows. The scan types the columns, counts rows and (while c->spec)
 * writes them; collect gathers the distinct text values of ONE_HOT and CLASS_TEXT columns;
 * fill writes the store. */
ns_status ns__csv_scan(ns__csv *c);
ns_status ns__csv_collect(ns__csv *c);
ns_status ns__csv_fill(ns__csv *c);

#endif
