/* The recording hot path in C: specviz.recording's Recording.log() for one event.
 *
 * Per event: stamp run_id, seq and the clocks into the msgspec struct's slots, copy
 * every field into its kind's column buffers (Arrow layouts: int64/double values, one
 * validity byte per row, UTF-8 bytes + int32 offsets for strings, a Python list for
 * lists and maps), append the same values as one binary record to the crash-safe log
 * buffer (format: specviz/store/binlog.py), and apply the flush policy (write(2) of
 * the buffered frame). Every CHUNK events it calls the recording's on_chunk(), which
 * takes the buffers (take()) and hands them to the background Parquet writer.
 *
 * Fields are read at the slot offsets of msgspec's member descriptors, so there is no
 * attribute lookup per field. A value of the wrong type raises TraceError at log() and
 * leaves every buffer as it was before the event.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_grow(Buf *b, Py_ssize_t extra) {
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) { PyErr_NoMemory(); return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *src, Py_ssize_t n) {
    if (b->len + n > b->cap && buf_grow(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->len, src, n);  /* an empty string into a buffer not yet allocated: p is NULL */
    b->len += n;
    return 0;
}

static inline int buf_byte(Buf *b, unsigned char c) { return buf_put(b, &c, 1); }

/* ---- memory handed to Python without a copy ---- */

/* take() gives each buffer's memory to a Block (numpy and pyarrow wrap it, no copy);
 * when the last reference goes, the memory returns to the recorder's Pool and a later
 * chunk reuses pages that are already mapped: a page fault costs microseconds in a VM,
 * and a chunk is ~15 MB of buffers. Blocks hold the Pool, never the recorder. */
#define POOL_MAX 1024

typedef struct {
    PyObject_HEAD
    int n;
    char *p[POOL_MAX];
    Py_ssize_t cap[POOL_MAX];
} Pool;

typedef struct {
    PyObject_HEAD
    char *p;
    Py_ssize_t len, cap;
    Pool *pool;
} Block;

static void pool_put(Pool *pool, char *p, Py_ssize_t cap) {
    if (!p) return;
    if (pool->n == POOL_MAX) { PyMem_Free(p); return; }
    pool->p[pool->n] = p;
    pool->cap[pool->n++] = cap;
}

/* The pooled memory that best fits `want` (what the buffer held this chunk, so likely
 * what it needs next): the smallest that holds it, else the largest. Taking whichever
 * came back last handed large blocks to small columns and small ones to large columns,
 * which grew them: every pooled block crept towards the largest column's size (RSS grew
 * by ~1 MB a chunk with the top-k lists' buffers, which are a chunk's largest). */
static void pool_get(Pool *pool, Buf *b, Py_ssize_t want) {
    b->len = 0;
    b->p = NULL;
    b->cap = 0;
    int best = -1;
    for (int i = 0; i < pool->n; i++) {
        Py_ssize_t cap = pool->cap[i];
        if (best < 0 || (cap >= want ? pool->cap[best] < want || cap < pool->cap[best] : pool->cap[best] < cap)) best = i;
    }
    if (best < 0) return;
    b->p = pool->p[best];
    b->cap = pool->cap[best];
    pool->n--;
    pool->p[best] = pool->p[pool->n];
    pool->cap[best] = pool->cap[pool->n];
}

static void Pool_dealloc(Pool *pool) {
    while (pool->n) PyMem_Free(pool->p[--pool->n]);
    Py_TYPE(pool)->tp_free((PyObject *)pool);
}

static void Block_dealloc(Block *b) {
    pool_put(b->pool, b->p, b->cap);
    Py_DECREF(b->pool);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static int Block_getbuffer(Block *b, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)b, b->p ? b->p : (char *)"", b->len, 1, flags);
}

static PyBufferProcs Block_as_buffer = {(getbufferproc)Block_getbuffer, NULL};

static PyTypeObject PoolType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "specviz.store._recorder.Pool",
    .tp_basicsize = sizeof(Pool),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Pool_dealloc,
};

static PyTypeObject BlockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "specviz.store._recorder.Block",
    .tp_basicsize = sizeof(Block),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Block_dealloc,
    .tp_as_buffer = &Block_as_buffer,
};

/* The buffer's memory as a Block; the buffer goes on with memory from the pool. The new
 * memory is made ready first, so a failure (out of memory) leaves the buffer as it was:
 * an offsets buffer always holds its first offset, which log() reads (it gave the old
 * memory away and left the offsets empty, and the next string or top-k value read
 * before their start). */
static PyObject *take_block(Pool *pool, Buf *b, int offsets) {
    Buf fresh;
    pool_get(pool, &fresh, b->len);
    int32_t zero = 0;  /* offsets start at 0 */
    Block *blk = offsets && buf_put(&fresh, &zero, 4) < 0 ? NULL : PyObject_New(Block, &BlockType);
    if (!blk) {
        pool_put(pool, fresh.p, fresh.cap);
        return NULL;
    }
    blk->p = b->p;
    blk->len = b->len;
    blk->cap = b->cap;
    Py_INCREF(pool);
    blk->pool = pool;
    *b = fresh;
    return (PyObject *)blk;
}

/* Field codes, chosen in Python (columnar.py _code, hotpath.py _c_code): i int, f float,
 * b bool, s str, their upper case the same allowing None, t a top-k list (list[TopToken],
 * kept as Arrow buffers: see put_top), o anything else (lists, maps). */
typedef struct {
    char code;
    Py_ssize_t offset;   /* of the slot in the struct */
    PyObject *name;
    Buf data;            /* values; for strings their UTF-8 bytes */
    Buf offs;            /* strings: int32 offsets, n + 1 of them */
    Buf valid;           /* one byte per row: 1 = a value, 0 = None */
    Py_ssize_t nulls;    /* optional columns: rows that are None; 'o': rows not an empty list or map */
    PyObject *objs;      /* 'o': the values themselves */
    PyObject *check;     /* 'o': (decode, item type or None), which refuse a value of the wrong
                            type; 't': the same and TopToken's three member descriptors;
                            's': a literal's values (a tuple); else NULL (hotpath.py _check) */
    /* 't': offs holds the list offsets (int32, n + 1), data the alternatives' ids (int64),
       text/toffs their texts (UTF-8 + int32 offsets), lp their logprobs (double) */
    Buf text, toffs, lp;
    Py_ssize_t item_off[3];  /* 't': the slots of TopToken's id, text, logprob */
} Column;

typedef struct {
    PyTypeObject *type;
    PyObject *tag;
    int round_end;
    int ncols;
    Column *cols;
    Py_ssize_t n;
} Kind;

typedef struct {
    PyObject_HEAD
    Kind *kinds;
    int nkinds;
    PyObject *run_id, *on_chunk, *encode, *error, *path;
    Py_ssize_t off_run_id, off_seq, off_mono, off_wall;
    long long n, wall_offset, every, pending, chunk, in_chunk, end;
    int fd, policy, fsync;
    Buf log;
    Pool *pool;
    Py_ssize_t frame;    /* where the frame being filled starts in log */
} Recorder;

enum { POLICY_EVENT = 0, POLICY_ROUND = 1, POLICY_EVERY = 2 };
#define FRAME_MAX (1 << 30)  /* hotpath.FRAME_MAX: a frame this big is written whatever the policy */

static Py_ssize_t slot_offset(PyObject *descr) {
    if (Py_TYPE(descr) != &PyMemberDescr_Type) {
        PyErr_SetString(PyExc_TypeError, "not a struct field descriptor");
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX && m->type != T_OBJECT) {
        PyErr_SetString(PyExc_TypeError, "not an object slot");
        return -1;
    }
    return m->offset;
}

#define SLOT(ev, off) (*(PyObject **)((char *)(ev) + (off)))

static void slot_set(PyObject *ev, Py_ssize_t off, PyObject *v) {
    PyObject *old = SLOT(ev, off);
    Py_INCREF(v);
    SLOT(ev, off) = v;
    Py_XDECREF(old);
}

/* ---- one value into a column and the log record ---- */

static int type_error(Recorder *r, Kind *k, Column *c, const char *want) {
    PyErr_Format(r->error, "%U events: field %U holds a value that is not %s", k->tag, c->name, want);
    return -1;
}

static int put_null(Recorder *r, Column *c, Py_ssize_t width) {
    static const char zeros[8] = {0};
    c->nulls++;
    if (buf_byte(&c->valid, 0) < 0 || buf_byte(&r->log, 0) < 0) return -1;
    if (width) return buf_put(&c->data, zeros, width);
    int32_t last = ((int32_t *)c->offs.p)[c->offs.len / 4 - 1];
    return buf_put(&c->offs, &last, 4);
}

static int put_int(Recorder *r, Kind *k, Column *c, PyObject *v) {
    if (!PyLong_Check(v)) return type_error(r, k, c, "int64");
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) { PyErr_Clear(); return type_error(r, k, c, "int64"); }
    return buf_put(&c->data, &x, 8) < 0 || buf_put(&r->log, &x, 8) < 0 ? -1 : 0;
}

static int put_float(Recorder *r, Kind *k, Column *c, PyObject *v) {
    double x;
    if (PyFloat_CheckExact(v)) x = PyFloat_AS_DOUBLE(v);
    else if (PyFloat_Check(v) || PyLong_Check(v)) {
        x = PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return type_error(r, k, c, "double"); }
    } else return type_error(r, k, c, "double");
    return buf_put(&c->data, &x, 8) < 0 || buf_put(&r->log, &x, 8) < 0 ? -1 : 0;
}

static int put_bool(Recorder *r, Kind *k, Column *c, PyObject *v) {
    if (!PyBool_Check(v)) return type_error(r, k, c, "bool");
    unsigned char x = v == Py_True;
    return buf_byte(&c->data, x) < 0 || buf_byte(&r->log, x) < 0 ? -1 : 0;
}

static int put_str(Recorder *r, Kind *k, Column *c, PyObject *v) {
    if (!PyUnicode_Check(v)) return type_error(r, k, c, "string");
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n);
    if (!s) { PyErr_Clear(); return type_error(r, k, c, "string"); }
    if (c->check) {  /* a literal: one of its values */
        int in = PySequence_Contains(c->check, v);
        if (in < 0) PyErr_Clear();
        if (in <= 0) {
            PyErr_Format(r->error, "%U events: field %U holds a value that is not one of %R", k->tag, c->name, c->check);
            return -1;
        }
    }
    if (c->data.len + n > INT32_MAX) return type_error(r, k, c, "string (2 GB of text in one chunk)");
    uint32_t len = (uint32_t)n;
    int32_t end = (int32_t)(c->data.len + n);
    if (buf_put(&c->data, s, n) < 0 || buf_put(&c->offs, &end, 4) < 0) return -1;
    return buf_put(&r->log, &len, 4) < 0 || buf_put(&r->log, s, n) < 0 ? -1 : 0;
}

/* Whether a list or map value's msgpack ``b`` decodes back to its field's type and, for a
 * list of structs, holds the structs themselves (hotpath.py _object_check). */
static int obj_fits(PyObject *check, PyObject *v, PyObject *b) {
    PyObject *back = PyObject_CallOneArg(PyTuple_GET_ITEM(check, 0), b);
    if (!back) return 0;
    Py_DECREF(back);
    PyObject *item = PyTuple_GET_ITEM(check, 1);
    if (item == Py_None) return 1;
    PyObject *seq = PySequence_Fast(v, "not a list");
    if (!seq) return 0;
    int ok = 1;
    for (Py_ssize_t i = 0; ok && i < PySequence_Fast_GET_SIZE(seq); i++)
        ok = (PyObject *)Py_TYPE(PySequence_Fast_GET_ITEM(seq, i)) == item;
    Py_DECREF(seq);
    return ok;
}

static int put_obj(Recorder *r, Kind *k, Column *c, PyObject *v) {
    /* The log gets msgpack (binlog.py decodes it with the field's type); empty lists
     * and maps, the common case, without a call into msgspec. */
    unsigned char empty = 0;
    if (PyList_CheckExact(v) && PyList_GET_SIZE(v) == 0) empty = 0x90;
    else if (PyDict_CheckExact(v) && PyDict_GET_SIZE(v) == 0) empty = 0x80;
    if (empty) {
        uint32_t one = 1;
        if (buf_put(&r->log, &one, 4) < 0 || buf_byte(&r->log, empty) < 0) return -1;
    } else {
        PyObject *b = PyObject_CallOneArg(r->encode, v);
        if (b && (!PyBytes_Check(b) || (c->check && !obj_fits(c->check, v, b)))) Py_CLEAR(b);
        if (!b) { PyErr_Clear(); return type_error(r, k, c, "a list or map of the field's type"); }
        uint32_t len = (uint32_t)PyBytes_GET_SIZE(b);
        int bad = buf_put(&r->log, &len, 4) < 0 || buf_put(&r->log, PyBytes_AS_STRING(b), len) < 0;
        Py_DECREF(b);
        if (bad) return -1;
        c->nulls++;
    }
    return PyList_Append(c->objs, v);
}

/* ---- top-k lists ('t') ---- */

/* Whether v is an exact list of exact TopTokens holding an exact int, str and float: the
 * engine's own values, which msgspec's decode takes whenever they encode (ids in int64,
 * checked at append), so the decode in obj_fits is skipped for them. */
static int top_plain(Column *c, PyObject *v) {
    if (!PyList_CheckExact(v)) return 0;
    PyObject *item_type = PyTuple_GET_ITEM(c->check, 1);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
        PyObject *t = PyList_GET_ITEM(v, i);
        if ((PyObject *)Py_TYPE(t) != item_type) return 0;
        PyObject *id = SLOT(t, c->item_off[0]), *text = SLOT(t, c->item_off[1]), *lp = SLOT(t, c->item_off[2]);
        if (!id || !text || !lp || !PyLong_CheckExact(id) || !PyUnicode_CheckExact(text) || !PyFloat_CheckExact(lp)) return 0;
    }
    return 1;
}

#define EXACT_INT_MAX 9007199254740992LL  /* 2**53: pyarrow turns ints beyond it into no double */

/* One alternative into the child buffers. Beyond what the decode checks, its values must
 * be what pyarrow takes into int64/string/double (pyrecorder._top_item_fits): a plain Enum
 * member decodes as its value but pyarrow refuses it, as it refuses an int logprob that no
 * double holds exactly; without this the run would fail at its next chunk, not at log(). */
static int top_item(Recorder *r, Kind *k, Column *c, PyObject *t) {
    const char *want = "a list or map of the field's type";
    if ((PyObject *)Py_TYPE(t) != PyTuple_GET_ITEM(c->check, 1)) return type_error(r, k, c, want);  /* before its slots are read */
    PyObject *id = SLOT(t, c->item_off[0]), *text = SLOT(t, c->item_off[1]), *lp = SLOT(t, c->item_off[2]);
    if (!id || !text || !lp || !PyLong_Check(id) || PyBool_Check(id) || !PyUnicode_Check(text)) return type_error(r, k, c, want);
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(id, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) { PyErr_Clear(); return type_error(r, k, c, want); }
    double d;
    if (PyFloat_Check(lp)) d = PyFloat_AS_DOUBLE(lp);
    else if (PyLong_Check(lp) && !PyBool_Check(lp)) {
        long long y = PyLong_AsLongLongAndOverflow(lp, &overflow);
        if (overflow || (y == -1 && PyErr_Occurred()) || y > EXACT_INT_MAX || y < -EXACT_INT_MAX) {
            PyErr_Clear();
            return type_error(r, k, c, want);
        }
        d = (double)y;
    } else return type_error(r, k, c, want);
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    if (!s) { PyErr_Clear(); return type_error(r, k, c, want); }
    if (c->text.len + n > INT32_MAX) return type_error(r, k, c, "a top-k list (2 GB of text in one chunk)");
    int32_t end = (int32_t)(c->text.len + n);
    if (buf_put(&c->text, s, n) < 0 || buf_put(&c->toffs, &end, 4) < 0) return -1;
    return buf_put(&c->data, &x, 8) < 0 || buf_put(&c->lp, &d, 8) < 0 ? -1 : 0;
}

/* A top-k list: its alternatives into the child buffers, its msgpack into the log (the
 * same bytes as for an 'o' field). Values that are not plain go through obj_fits first,
 * so what is taken is what the 'o' path took, less what pyarrow would refuse. */
static int put_top(Recorder *r, Kind *k, Column *c, PyObject *v) {
    const char *want = "a list or map of the field's type";
    int32_t count = ((int32_t *)c->offs.p)[c->offs.len / 4 - 1];
    if (PyList_CheckExact(v) && PyList_GET_SIZE(v) == 0) {  /* none recorded: the common case */
        static const unsigned char empty[5] = {1, 0, 0, 0, 0x90};  /* u32 length 1, msgpack [] */
        return buf_put(&c->offs, &count, 4) < 0 || buf_put(&r->log, empty, 5) < 0 ? -1 : 0;
    }
    PyObject *b = PyObject_CallOneArg(r->encode, v);
    if (b && (!PyBytes_Check(b) || (!top_plain(c, v) && !obj_fits(c->check, v, b)))) Py_CLEAR(b);
    if (!b) { PyErr_Clear(); return type_error(r, k, c, want); }
    PyObject *seq = PySequence_Fast(v, "not a list");
    if (!seq) { Py_DECREF(b); PyErr_Clear(); return type_error(r, k, c, want); }
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    int bad = (Py_ssize_t)count + m > INT32_MAX ? type_error(r, k, c, "a top-k list (2**31 alternatives in one chunk)") : 0;
    for (Py_ssize_t i = 0; !bad && i < m; i++) bad = top_item(r, k, c, PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    int32_t end = count + (int32_t)m;
    uint32_t len = (uint32_t)PyBytes_GET_SIZE(b);
    bad = bad || buf_put(&c->offs, &end, 4) < 0 || buf_put(&r->log, &len, 4) < 0 || buf_put(&r->log, PyBytes_AS_STRING(b), len) < 0;
    Py_DECREF(b);
    return bad ? -1 : 0;
}

static int put_value(Recorder *r, Kind *k, Column *c, PyObject *v) {
    char code = c->code;
    if (code >= 'A' && code <= 'Z') {
        if (v == Py_None) return put_null(r, c, code == 'S' ? 0 : code == 'B' ? 1 : 8);
        if (buf_byte(&c->valid, 1) < 0 || buf_byte(&r->log, 1) < 0) return -1;
        code += 'a' - 'A';
    }
    switch (code) {
    case 'i': return put_int(r, k, c, v);
    case 'f': return put_float(r, k, c, v);
    case 'b': return put_bool(r, k, c, v);
    case 's': return put_str(r, k, c, v);
    case 't': return put_top(r, k, c, v);
    default: return put_obj(r, k, c, v);
    }
}

/* ---- an event ---- */

static void kind_rollback(Kind *k, Py_ssize_t log_len, Recorder *r) {
    Py_ssize_t n = k->n;
    for (int i = 0; i < k->ncols; i++) {
        Column *c = &k->cols[i];
        char code = c->code;
        if (code == 'S' || code == 's') {
            c->offs.len = (n + 1) * 4;
            c->data.len = ((int32_t *)c->offs.p)[n];
        } else if (code == 't') {
            c->offs.len = (n + 1) * 4;
            Py_ssize_t count = ((int32_t *)c->offs.p)[n];
            c->data.len = c->lp.len = count * 8;
            c->toffs.len = (count + 1) * 4;
            c->text.len = ((int32_t *)c->toffs.p)[count];
        } else if (code != 'o') {
            c->data.len = n * (code == 'b' || code == 'B' ? 1 : 8);
        }
        if (code >= 'A' && code <= 'Z') {
            for (Py_ssize_t j = n; j < c->valid.len; j++) c->nulls -= c->valid.p[j] == 0;
            c->valid.len = n;
        }
        if (c->objs && PyList_GET_SIZE(c->objs) > n) {
            PyObject *v = PyList_GET_ITEM(c->objs, n);  /* at most the one value of this event */
            c->nulls -= !((PyList_CheckExact(v) && !PyList_GET_SIZE(v)) || (PyDict_CheckExact(v) && !PyDict_GET_SIZE(v)));
            PyList_SetSlice(c->objs, n, PY_SSIZE_T_MAX, NULL);
        }
    }
    r->log.len = log_len;
}

static Kind *kind_of(Recorder *r, PyObject *ev) {
    PyTypeObject *t = Py_TYPE(ev);
    for (int i = 0; i < r->nkinds; i++)
        if (r->kinds[i].type == t) return &r->kinds[i];
    PyErr_Format(r->error, "not an event: %s", _PyType_Name(t));
    return NULL;
}

static int set_int(PyObject *ev, Py_ssize_t off, long long x) {
    PyObject *v = PyLong_FromLongLong(x);
    if (!v) return -1;
    slot_set(ev, off, v);
    Py_DECREF(v);
    return 0;
}

/* `not x` for a clock slot, which must hold an int; -1 on error */
static int unset(Recorder *r, Kind *k, PyObject *v, const char *name) {
    if (!v || !PyLong_Check(v)) {
        PyErr_Format(r->error, "%U events: field %s holds a value that is not int64", k->tag, name);
        return -1;
    }
    int truth = PyObject_IsTrue(v);
    return truth < 0 ? -1 : !truth;
}

static int stamp(Recorder *r, Kind *k, PyObject *ev) {
    if (set_int(ev, r->off_seq, r->n) < 0) return -1;
    slot_set(ev, r->off_run_id, r->run_id);
    int no_mono = unset(r, k, SLOT(ev, r->off_mono), "t_mono_ns");
    if (no_mono < 0) return -1;
    int no_wall = unset(r, k, SLOT(ev, r->off_wall), "t_wall_ns");
    if (no_wall < 0) return -1;
    long long mono = 0;
    if (no_mono) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        mono = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        if (set_int(ev, r->off_mono, mono) < 0) return -1;
    }
    if (!no_wall) return 0;
    if (!no_mono) {  /* a clock given by the caller: wall = it + the offset, as in Python */
        PyObject *off = PyLong_FromLongLong(r->wall_offset);
        PyObject *wall = off ? PyNumber_Add(SLOT(ev, r->off_mono), off) : NULL;
        Py_XDECREF(off);
        if (!wall) return -1;
        slot_set(ev, r->off_wall, wall);
        Py_DECREF(wall);
        return 0;
    }
    return set_int(ev, r->off_wall, mono + r->wall_offset);
}

static int record(Recorder *r, Kind *k, PyObject *ev) {
    Py_ssize_t log_len = r->log.len;
    if (buf_byte(&r->log, (unsigned char)(k - r->kinds)) < 0) return -1;
    for (int i = 0; i < k->ncols; i++) {
        Column *c = &k->cols[i];
        PyObject *v = SLOT(ev, c->offset);
        if (!v) PyErr_Format(r->error, "%U events: field %U is not set", k->tag, c->name);
        if (!v || put_value(r, k, c, v) < 0) {
            kind_rollback(k, log_len, r);
            return -1;
        }
    }
    if ((long long)(r->log.len - r->frame - 4) >= 4294967296LL) {  /* a frame's length is a u32 */
        PyErr_Format(r->error, "%U events: one event of %zd bytes is more than the log can hold", k->tag, r->log.len - log_len);
        kind_rollback(k, log_len, r);
        return -1;
    }
    k->n++;
    return 0;
}

/* ---- the log ---- */

static int write_all(Recorder *r, const char *p, Py_ssize_t n) {
    Py_ssize_t done = 0;
    while (done < n) {
        ssize_t w = write(r->fd, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            if (ftruncate(r->fd, r->end) < 0) { /* the torn frame is dropped by recovery instead */ }
            PyErr_Format(r->error, "cannot write the trace log %U: %s", r->path, strerror(err));
            return -1;
        }
        done += w;
    }
    if (r->fsync && fsync(r->fd) < 0) {
        int err = errno;
        /* cut back as for a failed write: the frame stays buffered and a retry must not
           append it a second time */
        if (ftruncate(r->fd, r->end) < 0) { /* recovery drops the repeated frame instead */ }
        PyErr_Format(r->error, "cannot write the trace log %U: %s", r->path, strerror(err));
        return -1;
    }
    r->end += n;
    return 0;
}

static int flush_log(Recorder *r) {
    if (!r->pending) return 0;
    if (r->fd < 0) {
        PyErr_Format(r->error ? r->error : PyExc_RuntimeError, "run %U is already finished", r->run_id);
        return -1;
    }
    uint32_t len = (uint32_t)(r->log.len - r->frame - 4);
    memcpy(r->log.p + r->frame, &len, 4);
    if (write_all(r, r->log.p, r->log.len) < 0) return -1;  /* kept: the next flush retries */
    r->log.len = 4;  /* the next frame's length, filled in at its flush */
    r->frame = 0;
    r->pending = 0;
    return 0;
}

static PyObject *Recorder_log(Recorder *r, PyObject *ev) {
    if (!r->on_chunk || !r->error) {
        PyErr_SetString(PyExc_RuntimeError, "recorder cleared");
        return NULL;
    }
    Kind *k = kind_of(r, ev);
    if (!k || stamp(r, k, ev) < 0 || record(r, k, ev) < 0) return NULL;
    r->n++;
    r->pending++;
    int flush = r->policy == POLICY_EVENT || r->pending >= r->every || (r->policy == POLICY_ROUND && k->round_end)
                || r->log.len - r->frame > FRAME_MAX;
    if (flush && flush_log(r) < 0) return NULL;
    if (++r->in_chunk >= r->chunk) {
        r->in_chunk = 0;
        PyObject *res = PyObject_CallNoArgs(r->on_chunk);
        if (!res) return NULL;
        Py_DECREF(res);
    }
    Py_INCREF(ev);
    return ev;
}

static PyObject *Recorder_flush(Recorder *r, PyObject *unused) {
    if (flush_log(r) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Recorder_close(Recorder *r, PyObject *unused) {
    r->fd = -1;  /* the descriptor is the LogWriter's; only our use of it ends */
    Py_RETURN_NONE;
}

/* ---- handing the buffers over ---- */

static PyObject *take_top(Pool *pool, Column *c) {
    /* (list offsets, ids, text offsets, texts, logprobs): columnar.compiled_arrays */
    PyObject *out[5] = {NULL};
    Buf *bufs[5] = {&c->offs, &c->data, &c->toffs, &c->text, &c->lp};
    for (int i = 0; i < 5; i++)
        if (!(out[i] = take_block(pool, bufs[i], i == 0 || i == 2))) {
            for (int j = 0; j < i; j++) Py_DECREF(out[j]);
            return NULL;
        }
    return Py_BuildValue("(NNNNN)", out[0], out[1], out[2], out[3], out[4]);
}

static PyObject *take_column(Pool *pool, Column *c) {
    if (c->code == 't') return take_top(pool, c);
    if (c->code == 'o') {  /* (values, how many are not an empty list or map) */
        PyObject *objs = c->objs;
        c->objs = PyList_New(0);
        if (!c->objs) { c->objs = objs; return NULL; }
        Py_ssize_t nonempty = c->nulls;
        c->nulls = 0;
        return Py_BuildValue("(Nn)", objs, nonempty);
    }
    int optional = c->code >= 'A' && c->code <= 'Z';
    PyObject *valid = optional && c->nulls ? take_block(pool, &c->valid, 0) : (Py_INCREF(Py_None), Py_None);
    c->valid.len = 0;
    c->nulls = 0;
    if (!valid) return NULL;
    if (c->code == 's' || c->code == 'S') {
        PyObject *offs = take_block(pool, &c->offs, 1);
        PyObject *data = offs ? take_block(pool, &c->data, 0) : NULL;
        if (!data) { Py_XDECREF(offs); Py_DECREF(valid); return NULL; }
        return Py_BuildValue("(NNN)", offs, data, valid);
    }
    PyObject *data = take_block(pool, &c->data, 0);
    if (!data) { Py_DECREF(valid); return NULL; }
    return Py_BuildValue("(NN)", data, valid);
}

static PyObject *Recorder_take(Recorder *r, PyObject *unused) {
    /* [(tag, n, [column, ...]), ...] for the kinds with rows; the buffers start over. */
    if (!r->on_chunk) {
        PyErr_SetString(PyExc_RuntimeError, "recorder cleared");
        return NULL;
    }
    PyObject *out = PyList_New(0);
    for (int i = 0; out && i < r->nkinds; i++) {
        Kind *k = &r->kinds[i];
        if (!k->n) continue;
        PyObject *cols = PyList_New(k->ncols);
        for (int j = 0; cols && j < k->ncols; j++) {
            PyObject *col = take_column(r->pool, &k->cols[j]);
            if (!col) Py_CLEAR(cols);
            else PyList_SET_ITEM(cols, j, col);
        }
        PyObject *item = cols ? Py_BuildValue("(OnN)", k->tag, k->n, cols) : NULL;
        k->n = 0;
        if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}

static PyObject *Recorder_get_n(Recorder *r, void *unused) { return PyLong_FromLongLong(r->n); }

/* ---- construction ---- */

static int top_init(Column *c) {
    /* check: (decode, TopToken, TopToken.id, TopToken.text, TopToken.logprob) */
    if (!c->check) { PyErr_SetString(PyExc_TypeError, "a 't' field needs its check"); return -1; }
    if (!PyType_Check(PyTuple_GET_ITEM(c->check, 1))) { PyErr_SetString(PyExc_TypeError, "not a type"); return -1; }
    for (int i = 0; i < 3; i++)
        if ((c->item_off[i] = slot_offset(PyTuple_GET_ITEM(c->check, 2 + i))) < 0) return -1;
    int32_t zero = 0;
    return buf_put(&c->toffs, &zero, 4);
}

static int column_init(Column *c, PyObject *spec) {
    /* spec: (name, code, member descriptor, check or None) */
    PyObject *name, *code, *descr, *check = Py_None;
    if (!PyArg_ParseTuple(spec, "UUO|O", &name, &code, &descr, &check)) return -1;
    if (PyUnicode_GET_LENGTH(code) != 1) { PyErr_SetString(PyExc_ValueError, "a field code is one character"); return -1; }
    c->code = (char)PyUnicode_READ_CHAR(code, 0);
    if ((c->offset = slot_offset(descr)) < 0) return -1;
    Py_INCREF(name);
    c->name = name;
    if (check != Py_None) {
        Py_ssize_t size = c->code == 't' ? 5 : 2;
        int ok = c->code == 'o' || c->code == 't'
                     ? PyTuple_Check(check) && PyTuple_GET_SIZE(check) == size && PyCallable_Check(PyTuple_GET_ITEM(check, 0))
                     : (c->code == 's' || c->code == 'S') && PyTuple_Check(check);
        if (!ok) { PyErr_SetString(PyExc_TypeError, "a check is (decode, item type) for 'o', the same and 3 slots for 't', a tuple of values for 's'"); return -1; }
        Py_INCREF(check);
        c->check = check;
    }
    if (c->code == 't' && top_init(c) < 0) return -1;
    if (c->code == 'o' && !(c->objs = PyList_New(0))) return -1;
    if (c->code == 's' || c->code == 'S' || c->code == 't') {
        int32_t zero = 0;
        return buf_put(&c->offs, &zero, 4);
    }
    return 0;
}

static int kind_init(Kind *k, PyObject *spec) {
    /* spec: (type, tag, round_end, [column spec, ...]) */
    PyObject *type, *tag, *cols;
    if (!PyArg_ParseTuple(spec, "O!UpO!", &PyType_Type, &type, &tag, &k->round_end, &PyList_Type, &cols)) return -1;
    Py_INCREF(type);
    Py_INCREF(tag);
    k->type = (PyTypeObject *)type;
    k->tag = tag;
    k->ncols = (int)PyList_GET_SIZE(cols);
    k->cols = PyMem_Calloc(k->ncols ? k->ncols : 1, sizeof(Column));
    if (!k->cols) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < k->ncols; i++)
        if (column_init(&k->cols[i], PyList_GET_ITEM(cols, i)) < 0) return -1;
    return 0;
}

static int base_offsets(Recorder *r, PyObject *base) {
    PyObject *d[4];
    if (!PyArg_ParseTuple(base, "OOOO", &d[0], &d[1], &d[2], &d[3])) return -1;
    if ((r->off_run_id = slot_offset(d[0])) < 0 || (r->off_seq = slot_offset(d[1])) < 0) return -1;
    if ((r->off_mono = slot_offset(d[2])) < 0 || (r->off_wall = slot_offset(d[3])) < 0) return -1;
    return 0;
}

static int Recorder_init(Recorder *r, PyObject *args, PyObject *kw) {
    static char *names[] = {"kinds", "base", "run_id", "fd", "path", "policy", "every", "fsync", "wall_offset",
                            "chunk", "on_chunk", "encode", "error", "header", NULL};
    PyObject *kinds, *base, *header;
    if (r->kinds) { PyErr_SetString(PyExc_RuntimeError, "already initialised"); return -1; }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OUiUiLpLLOOOO", names, &PyList_Type, &kinds, &base, &r->run_id, &r->fd,
                                     &r->path, &r->policy, &r->every, &r->fsync, &r->wall_offset, &r->chunk, &r->on_chunk,
                                     &r->encode, &r->error, &header))
        return -1;
    Py_INCREF(r->run_id); Py_INCREF(r->path); Py_INCREF(r->on_chunk); Py_INCREF(r->encode); Py_INCREF(r->error);
    if (r->every < 1 || r->chunk < 1) { PyErr_SetString(PyExc_ValueError, "every and chunk must be positive"); return -1; }
    if (base_offsets(r, base) < 0) return -1;
    if (!(r->pool = PyObject_New(Pool, &PoolType))) return -1;
    r->pool->n = 0;
    r->nkinds = (int)PyList_GET_SIZE(kinds);
    r->kinds = PyMem_Calloc(r->nkinds ? r->nkinds : 1, sizeof(Kind));
    if (!r->kinds) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < r->nkinds; i++)
        if (kind_init(&r->kinds[i], PyList_GET_ITEM(kinds, i)) < 0) return -1;
    /* The file's header goes out with the first frame, in the same write(2). */
    Py_buffer h;
    if (PyObject_GetBuffer(header, &h, PyBUF_SIMPLE) < 0) return -1;
    int bad = buf_put(&r->log, h.buf, h.len) < 0;
    PyBuffer_Release(&h);
    uint32_t zero = 0;
    if (bad || buf_put(&r->log, &zero, 4) < 0) return -1;
    r->frame = r->log.len - 4;
    return 0;
}

/* GC support: a Recording holds its Recorder, whose on_chunk holds the Recording. */
static int Recorder_traverse(Recorder *r, visitproc visit, void *arg) {
    Py_VISIT(r->on_chunk);
    Py_VISIT(r->encode);
    Py_VISIT(r->error);
    for (int i = 0; r->kinds && i < r->nkinds; i++)
        for (int j = 0; r->kinds[i].cols && j < r->kinds[i].ncols; j++) {
            Py_VISIT(r->kinds[i].cols[j].objs);
            Py_VISIT(r->kinds[i].cols[j].check);
        }
    return 0;
}

static int Recorder_clear(Recorder *r) {
    Py_CLEAR(r->on_chunk);
    Py_CLEAR(r->encode);
    Py_CLEAR(r->error);
    for (int i = 0; r->kinds && i < r->nkinds; i++)
        for (int j = 0; r->kinds[i].cols && j < r->kinds[i].ncols; j++) {
            Py_CLEAR(r->kinds[i].cols[j].objs);
            Py_CLEAR(r->kinds[i].cols[j].check);
        }
    r->fd = -1;
    return 0;
}

static void Recorder_dealloc(Recorder *r) {
    PyObject_GC_UnTrack(r);
    Recorder_clear(r);
    for (int i = 0; r->kinds && i < r->nkinds; i++) {
        Kind *k = &r->kinds[i];
        for (int j = 0; k->cols && j < k->ncols; j++) {
            Column *c = &k->cols[j];
            PyMem_Free(c->data.p); PyMem_Free(c->offs.p); PyMem_Free(c->valid.p);
            PyMem_Free(c->text.p); PyMem_Free(c->toffs.p); PyMem_Free(c->lp.p);
            Py_XDECREF(c->name);
        }
        PyMem_Free(k->cols);
        Py_XDECREF(k->type); Py_XDECREF(k->tag);
    }
    PyMem_Free(r->kinds);
    PyMem_Free(r->log.p);
    Py_XDECREF(r->pool);
    Py_XDECREF(r->run_id); Py_XDECREF(r->path);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMethodDef Recorder_methods[] = {
    {"log", (PyCFunction)Recorder_log, METH_O, "Stamp, buffer and log one event; returns it."},
    {"flush", (PyCFunction)Recorder_flush, METH_NOARGS, "Write the buffered frame to the log."},
    {"take", (PyCFunction)Recorder_take, METH_NOARGS, "The column buffers of the events since the last take()."},
    {"close", (PyCFunction)Recorder_close, METH_NOARGS, "No more writes to the log."},
    {NULL}
};

static PyGetSetDef Recorder_getset[] = {
    {"n", (getter)Recorder_get_n, NULL, "events logged", NULL},
    {NULL}
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "specviz.store._recorder.Recorder",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Recorder_traverse,
    .tp_clear = (inquiry)Recorder_clear,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Recorder_init,
    .tp_dealloc = (destructor)Recorder_dealloc,
    .tp_methods = Recorder_methods,
    .tp_getset = Recorder_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_recorder", "specviz's compiled recording path.", -1, NULL};

PyMODINIT_FUNC PyInit__recorder(void) {
    if (PyType_Ready(&RecorderType) < 0 || PyType_Ready(&PoolType) < 0 || PyType_Ready(&BlockType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&RecorderType);
    if (PyModule_AddObject(m, "Recorder", (PyObject *)&RecorderType) < 0) return NULL;
    return m;
}
