/* Binlog row images -> the row decoder's flat list of column values, ready for finishing.
 *
 * The pure-Python twin is the `walk` that zeroetl/sources/mysql/rows.py generates per TABLE_MAP
 * followed by each column's `conv` (values.py): this module yields, per value, what the Python
 * finishers receive after `conv`, so both paths share the finishing into Arrow. The tests
 * compare the two value by value, on recorded and random rows and on truncated/garbled events.
 *
 * walk(layout, ncols, buf, pos) -> (values, rows)
 *   `layout` holds 4 bytes per column: a code and three parameters (see the C_* codes below;
 *   rows.py `native_layout` builds it). Walks every row image in buf[pos:]: a NULL bitmap of
 *   (ncols + 7) / 8 bytes, then each present column. Appends None for NULL columns. Every
 *   length is checked against the end of the buffer: a value or bitmap that runs past it raises
 *   ValueError saying which row image and column; nothing past the buffer is ever read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

enum {
    C_INT_S = 1,  /* little-endian signed int, width a (1..8) */
    C_INT_U = 2,  /* little-endian unsigned int, width a (1..8) */
    C_BE_U = 3,   /* big-endian unsigned int, width a (1..8): DATETIME2/TIMESTAMP2/TIME2, BIT */
    C_FLOAT = 4,  /* IEEE float32 -> float */
    C_DOUBLE = 5, /* IEEE float64 -> float */
    C_BYTES = 6,  /* a fixed-width byte string, width a (wide DECIMAL: finished in Python) */
    C_PREFIX = 7, /* a byte string after an a-byte (1..4) little-endian length */
    C_DEC = 8,    /* DECIMAL(b, c) with b <= 18, width a: the value times 10**c, an int */
};

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const int64_t pow10[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL,
};

/* One packed DECIMAL(prec, scale) of `size` bytes -> a Python int (value * 10**scale), as
 * decimal.py's scaled_int_column: groups are not range-checked (hostile digits give a bigger
 * int there too), so the sum is kept in 128 bits (prec <= 18: at most ~3 groups of 2**32). */
static __int128 decimal_value(const uint8_t *p, int size, int prec, int scale) {
    uint8_t b[16];
    int neg = !(p[0] & 0x80);
    for (int k = 0; k < size; k++) b[k] = neg ? (uint8_t)~p[k] : p[k];
    b[0] ^= 0x80; /* the sign bit: set for positive values, inverted with the rest for negative */
    /* groups, least significant first */
    int intg = prec - scale;
    int gb[8], gd[8], ng = 0;
    if (scale % 9) { gb[ng] = dig2bytes[scale % 9]; gd[ng] = scale % 9; ng++; }
    for (int k = 0; k < scale / 9; k++) { gb[ng] = 4; gd[ng] = 9; ng++; }
    for (int k = 0; k < intg / 9; k++) { gb[ng] = 4; gd[ng] = 9; ng++; }
    if (intg % 9) { gb[ng] = dig2bytes[intg % 9]; gd[ng] = intg % 9; ng++; }
    __int128 v = 0;
    int end = size, after = 0;
    for (int g = 0; g < ng; g++) {
        uint64_t x = 0;
        for (int k = end - gb[g]; k < end; k++) x = (x << 8) | b[k];
        end -= gb[g];
        v += (__int128)x * pow10[after];
        after += gd[g];
    }
    return neg ? -v : v;
}

static PyObject *decimal_int(const uint8_t *p, int size, int prec, int scale) {
    __int128 v = decimal_value(p, size, prec, scale);
    if (v >= INT64_MIN && v <= INT64_MAX) return PyLong_FromLongLong((long long)v);
    /* Only hostile digit groups get here: build the int from its decimal text. */
    char text[48], *q = text + sizeof text - 1;
    *q = 0;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do { *--q = (char)('0' + (int)(u % 10)); u /= 10; } while (u);
    if (v < 0) *--q = '-';
    return PyLong_FromString(q, NULL, 10);
}

typedef struct {
    PyObject **items;
    Py_ssize_t n, cap;
} Vec;

static int vec_push(Vec *v, PyObject *o) {
    if (!o) return -1;
    if (v->n == v->cap) {
        Py_ssize_t cap = v->cap ? v->cap * 2 : 256;
        PyObject **items = PyMem_Realloc(v->items, (size_t)cap * sizeof(PyObject *));
        if (!items) { Py_DECREF(o); PyErr_NoMemory(); return -1; }
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = o;
    return 0;
}

static void vec_free(Vec *v) {
    for (Py_ssize_t k = 0; k < v->n; k++) Py_DECREF(v->items[k]);
    PyMem_Free(v->items);
}

static inline uint64_t le_u(const uint8_t *p, int w) {
    uint64_t x = 0;
    for (int k = w - 1; k >= 0; k--) x = (x << 8) | p[k];
    return x;
}

static inline uint64_t be_u(const uint8_t *p, int w) {
    uint64_t x = 0;
    for (int k = 0; k < w; k++) x = (x << 8) | p[k];
    return x;
}

/* The size of one present value at p (whose bytes end at lim), or -1 when it runs past lim. */
static inline Py_ssize_t value_size(const uint8_t *lay, const uint8_t *p, const uint8_t *lim,
                                    Py_ssize_t *skip) {
    *skip = 0;
    if (lay[0] == C_FLOAT) return lim - p >= 4 ? 4 : -1;
    if (lay[0] == C_DOUBLE) return lim - p >= 8 ? 8 : -1;
    if (lay[0] != C_PREFIX) return lim - p >= lay[1] ? lay[1] : -1;
    int w = lay[1];
    if (lim - p < w) return -1;
    uint64_t n = le_u(p, w);
    if (n > (uint64_t)(lim - p - w)) return -1;
    *skip = w;
    return (Py_ssize_t)n;
}

/* value_size of column i (0-based) of row image `row`, raising the ValueError every walk of
 * a row image raises when its value runs past the event. */
static inline Py_ssize_t column_size(const uint8_t *lay, Py_ssize_t i, const uint8_t *p,
                                     const uint8_t *lim, Py_ssize_t row, Py_ssize_t *skip) {
    Py_ssize_t n = value_size(lay + 4 * i, p, lim, skip);
    if (n < 0)
        PyErr_Format(PyExc_ValueError,
                     "row image %zd: the value of column %zd runs past the event", row + 1,
                     i + 1);
    return n;
}

static void bitmap_past_event(Py_ssize_t row) {
    PyErr_Format(PyExc_ValueError, "row image %zd: its NULL bitmap runs past the event", row + 1);
}

static PyObject *value(const uint8_t *lay, const uint8_t *p, Py_ssize_t n) {
    int w = lay[1];
    switch (lay[0]) {
    case C_INT_S: {
        uint64_t x = le_u(p, w);
        if (w < 8 && (x >> (8 * w - 1)) & 1) x |= ~(uint64_t)0 << (8 * w);
        return PyLong_FromLongLong((long long)x);
    }
    case C_INT_U: return PyLong_FromUnsignedLongLong(le_u(p, w));
    case C_BE_U: return PyLong_FromUnsignedLongLong(be_u(p, w));
    case C_FLOAT: {
        float f;
        memcpy(&f, p, 4);
        return PyFloat_FromDouble((double)f);
    }
    case C_DOUBLE: {
        double d;
        memcpy(&d, p, 8);
        return PyFloat_FromDouble(d);
    }
    case C_DEC: return decimal_int(p, w, lay[2], lay[3]);
    default: return PyBytes_FromStringAndSize((const char *)p, n);
    }
}

static int check_layout(const uint8_t *lay, Py_ssize_t ncols) {
    for (Py_ssize_t i = 0; i < ncols; i++) {
        const uint8_t *l = lay + 4 * i;
        int ok;
        switch (l[0]) {
        case C_INT_S: case C_INT_U: case C_BE_U: ok = l[1] >= 1 && l[1] <= 8; break;
        case C_FLOAT: case C_DOUBLE: ok = 1; break;
        case C_BYTES: ok = 1; break;
        case C_PREFIX: ok = l[1] >= 1 && l[1] <= 4; break;
        case C_DEC:
            ok = l[2] >= 1 && l[2] <= 18 && l[3] <= l[2] && l[1] >= 1 && l[1] <= 16;
            if (ok) {
                int intg = l[2] - l[3];
                ok = l[1] == intg / 9 * 4 + dig2bytes[intg % 9] + l[3] / 9 * 4
                                 + dig2bytes[l[3] % 9];
            }
            break;
        default: ok = 0;
        }
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "walk: bad layout for column %zd", i + 1);
            return -1;
        }
    }
    return 0;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer lv, bv;
    Py_ssize_t ncols, pos;
    if (!PyArg_ParseTuple(args, "y*ny*n", &lv, &ncols, &bv, &pos)) return NULL;
    PyObject *result = NULL;
    Vec out = {NULL, 0, 0};
    const uint8_t *lay = (const uint8_t *)lv.buf;
    if (ncols <= 0 || lv.len != ncols * 4 || pos < 0 || pos > bv.len) {
        PyErr_SetString(PyExc_ValueError, "walk: bad layout, column count or position");
        goto done;
    }
    if (check_layout(lay, ncols) < 0) goto done;
    const uint8_t *buf = (const uint8_t *)bv.buf, *lim = buf + bv.len, *p = buf + pos;
    Py_ssize_t nbl = (ncols + 7) / 8, row = 0;
    while (p < lim) {
        if (lim - p < nbl) {
            bitmap_past_event(row);
            goto done;
        }
        const uint8_t *nb = p;
        p += nbl;
        for (Py_ssize_t i = 0; i < ncols; i++) {
            if (nb[i >> 3] >> (i & 7) & 1) {
                Py_INCREF(Py_None);
                if (vec_push(&out, Py_None) < 0) goto done;
                continue;
            }
            Py_ssize_t skip, n = column_size(lay, i, p, lim, row, &skip);
            if (n < 0) goto done;
            if (vec_push(&out, value(lay + 4 * i, p + skip, n)) < 0) goto done;
            p += skip + n;
        }
        row++;
    }
    PyObject *list = PyList_New(out.n);
    if (!list) goto done;
    for (Py_ssize_t k = 0; k < out.n; k++) PyList_SET_ITEM(list, k, out.items[k]);
    out.n = 0; /* the list owns them now */
    result = Py_BuildValue("(Nn)", list, row);

done:
    vec_free(&out);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&bv);
    return result;
}


/* Walks one row image at p (bounded by lim); calls back nothing, just finds its end. With
 * `pk`/`npk`, records each key column's (offset, size), size -1 for NULL, in `keys`. Returns
 * the end of the image, or NULL (with ValueError set) when it runs past lim. */
static const uint8_t *image_end(const uint8_t *lay, Py_ssize_t ncols, const uint8_t *p,
                                const uint8_t *lim, Py_ssize_t row, const uint16_t *pk,
                                Py_ssize_t npk, Py_ssize_t (*keys)[2]) {
    Py_ssize_t nbl = (ncols + 7) / 8;
    if (lim - p < nbl) {
        bitmap_past_event(row);
        return NULL;
    }
    const uint8_t *nb = p, *start = p;
    p += nbl;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < ncols; i++) {
        int key = k < npk && pk[k] == i;
        if (nb[i >> 3] >> (i & 7) & 1) {
            if (key) { keys[k][0] = 0; keys[k][1] = -1; k++; }
            continue;
        }
        Py_ssize_t skip, n = column_size(lay, i, p, lim, row, &skip);
        if (n < 0) return NULL;
        if (key) { keys[k][0] = p + skip - start; keys[k][1] = n; k++; }
        p += skip + n;
    }
    return p;
}

#define MAX_KEY 64

/* Python's == on the walker's values of one key column in two images. */
static int key_equal(const uint8_t *lay, const uint8_t *a, const Py_ssize_t *ka,
                     const uint8_t *b, const Py_ssize_t *kb) {
    if (ka[1] < 0 || kb[1] < 0) return ka[1] < 0 && kb[1] < 0;
    const uint8_t *x = a + ka[0], *y = b + kb[0];
    if (lay[0] == C_FLOAT) {
        float f, g;
        memcpy(&f, x, 4);
        memcpy(&g, y, 4);
        return f == g;
    }
    if (lay[0] == C_DOUBLE) {
        double f, g;
        memcpy(&f, x, 8);
        memcpy(&g, y, 8);
        return f == g;
    }
    return ka[1] == kb[1] && memcmp(x, y, (size_t)ka[1]) == 0;
}

/* index(layout, ncols, buf, v2, images, pk) -> (starts, after, rows, moved) | None
 *   A whole rows event body: its post-header (6-byte table id, flags, for v2 events the extra
 *   data), column count and columns-present bitmap(s), then its row images. None when the
 *   header is not the plain one (truncated, another column count, a partial image): the Python
 *   decoder then says what is wrong. Checks every row image as walk() does, without making a
 *   value. `starts`: the offset of each image (int64 bytes); for updates (images 2) of each
 *   before image, `after` those of the after images (else None), and `moved` a byte per row:
 *   1 where a key column (`pk`: uint16 column numbers, ascending) differs between the two
 *   images (else None). `rows` counts images (an update's pair counts two). */
static Py_ssize_t header_end(const uint8_t *buf, Py_ssize_t len, Py_ssize_t ncols, int v2,
                             Py_ssize_t images) {
    Py_ssize_t pos = 8;
    if (v2) {
        if (len < 10) return -1;
        pos += buf[8] | (buf[9] << 8); /* extra data, its 2 length bytes included */
    }
    if (pos >= len) return -1;
    uint8_t first = buf[pos];
    uint64_t n;
    if (first < 251) { n = first; pos += 1; }
    else {
        int w = first == 252 ? 2 : first == 253 ? 3 : first == 254 ? 8 : 0;
        if (!w || len - pos - 1 < w) return -1;
        n = le_u(buf + pos + 1, w);
        pos += 1 + w;
    }
    if (n != (uint64_t)ncols) return -1;
    Py_ssize_t nbl = (ncols + 7) / 8;
    for (Py_ssize_t k = 0; k < images; k++) {
        if (len - pos < nbl) return -1;
        for (Py_ssize_t i = 0; i < ncols; i++)
            if (!(buf[pos + (i >> 3)] >> (i & 7) & 1)) return -1;
        pos += nbl;
    }
    return pos;
}

/* index() on parsed arguments: 1 with the four results set (new references; after and moved
 * NULL unless images is 2), 0 when the header is not the plain one, -1 with an exception. */
static int index_core(const Py_buffer *lv, Py_ssize_t ncols, const Py_buffer *bv, int v2,
                      Py_ssize_t images, const Py_buffer *kv, PyObject **starts_out,
                      PyObject **after_out, Py_ssize_t *rows_out, PyObject **moved_out) {
    PyObject *starts = NULL, *moved = NULL, *after = NULL;
    const uint8_t *lay = (const uint8_t *)lv->buf;
    Py_ssize_t npk = kv->len / 2;
    const uint16_t *pk = (const uint16_t *)kv->buf;
    if (ncols <= 0 || lv->len != ncols * 4 || (images != 1 && images != 2) || kv->len % 2
        || npk > MAX_KEY) {
        PyErr_SetString(PyExc_ValueError, "index: bad layout, column count, position or key");
        return -1;
    }
    for (Py_ssize_t k = 0; k < npk; k++) {
        if (pk[k] >= ncols || (k && pk[k] <= pk[k - 1])) {
            PyErr_SetString(PyExc_ValueError, "index: bad key columns");
            return -1;
        }
    }
    if (check_layout(lay, ncols) < 0) return -1;
    Py_ssize_t pos = header_end(bv->buf, bv->len, ncols, v2, images);
    if (pos < 0) return 0;
    const uint8_t *buf = (const uint8_t *)bv->buf, *lim = buf + bv->len, *p = buf + pos;
    /* Every image takes at least its NULL bitmap: that bounds the count. */
    Py_ssize_t most = (bv->len - pos) / ((ncols + 7) / 8) + 1;
    starts = PyBytes_FromStringAndSize(NULL, most * 8);
    if (!starts) goto fail;
    int64_t *st = (int64_t *)PyBytes_AS_STRING(starts);
    uint8_t *mv = NULL;
    int64_t *st2 = NULL;
    if (images == 2) {
        moved = PyBytes_FromStringAndSize(NULL, most / 2 + 1);
        after = PyBytes_FromStringAndSize(NULL, (most / 2 + 1) * 8);
        if (!moved || !after) goto fail;
        mv = (uint8_t *)PyBytes_AS_STRING(moved);
        st2 = (int64_t *)PyBytes_AS_STRING(after);
    }
    Py_ssize_t keys[2][MAX_KEY][2];
    Py_ssize_t row = 0;
    while (p < lim) {
        int which = images == 2 ? (int)(row & 1) : 0;
        const uint8_t *next = image_end(lay, ncols, p, lim, row, pk, images == 2 ? npk : 0,
                                        keys[which]);
        if (!next) goto fail;
        if (which == 1) {
            st2[row / 2] = p - buf;
            const uint8_t *before = buf + st[row / 2];
            int same = 1;
            for (Py_ssize_t k = 0; k < npk && same; k++)
                same = key_equal(lay + 4 * pk[k], before, keys[0][k], p, keys[1][k]);
            mv[row / 2] = !same;
        } else {
            st[images == 2 ? row / 2 : row] = p - buf;
        }
        p = next;
        row++;
    }
    if (_PyBytes_Resize(&starts, (images == 2 ? (row + 1) / 2 : row) * 8) < 0) goto fail;
    if (moved && _PyBytes_Resize(&moved, row / 2) < 0) goto fail;
    if (after && _PyBytes_Resize(&after, row / 2 * 8) < 0) goto fail;
    *starts_out = starts;
    *after_out = after;
    *rows_out = row;
    *moved_out = moved;
    return 1;

fail:
    Py_XDECREF(starts);
    Py_XDECREF(moved);
    Py_XDECREF(after);
    return -1;
}

static PyObject *index_(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer lv, bv, kv;
    Py_ssize_t ncols, images, row = 0;
    int v2;
    if (!PyArg_ParseTuple(args, "y*ny*pny*", &lv, &ncols, &bv, &v2, &images, &kv)) return NULL;
    PyObject *result = NULL, *starts = NULL, *moved = NULL, *after = NULL;
    int got = index_core(&lv, ncols, &bv, v2, images, &kv, &starts, &after, &row, &moved);
    if (got == 0) {
        result = Py_None;
        Py_INCREF(result);
    } else if (got > 0) {
        result = Py_BuildValue("(OOnO)", starts, after ? after : Py_None, row,
                               moved ? moved : Py_None);
    }
    Py_XDECREF(starts);
    Py_XDECREF(moved);
    Py_XDECREF(after);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&kv);
    return result;
}

/* image(descriptors, kind, decoder, layout, ncols, buf, v2, images, pk) -> object | None
 *   index() of one rows event made into an object of the class that owns `descriptors` (the
 *   twelve slot descriptors of rows.RowsImage, in IMAGE_SLOTS order: kind, decoder, num_rows,
 *   nbytes, buf, starts, after_starts, moved, _raw, _before, _after, _zero_dates): num_rows is
 *   the images counted divided by `images` (2 for updates), nbytes len(buf), buf the object
 *   passed, the last four None. None where index() returns None; ValueError where it raises,
 *   and for an update whose images do not pair. The Python twin: rows_native.image_py. */
#define ISLOTS 12
static PyObject *image_(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *descrs, *kind, *decoder, *bufobj;
    Py_buffer lv, bv, kv;
    Py_ssize_t ncols, images, row = 0;
    int v2;
    if (!PyArg_ParseTuple(args, "OOOy*nOpny*", &descrs, &kind, &decoder, &lv, &ncols, &bufobj,
                          &v2, &images, &kv))
        return NULL;
    PyObject *result = NULL, *starts = NULL, *moved = NULL, *after = NULL, *nrows = NULL,
             *nbytes = NULL;
    if (PyObject_GetBuffer(bufobj, &bv, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&lv);
        PyBuffer_Release(&kv);
        return NULL;
    }
    Py_ssize_t off[ISLOTS];
    PyTypeObject *cls = NULL;
    if (!PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != ISLOTS) {
        PyErr_SetString(PyExc_TypeError, "image: descriptors must be a tuple of 12 slots");
        goto done;
    }
    for (Py_ssize_t i = 0; i < ISLOTS; i++) {
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyErr_SetString(PyExc_TypeError, "image: descriptors must be slot descriptors");
            goto done;
        }
        PyMemberDescrObject *m = (PyMemberDescrObject *)d;
        PyTypeObject *owner = PyDescr_TYPE(m);
        if (cls == NULL)
            cls = owner;
        if (owner != cls || m->d_member->type != T_OBJECT_EX ||
            m->d_member->offset < (Py_ssize_t)sizeof(PyObject) ||
            m->d_member->offset + (Py_ssize_t)sizeof(PyObject *) > owner->tp_basicsize) {
            PyErr_SetString(PyExc_TypeError, "image: descriptors must be object slots of one class");
            goto done;
        }
        off[i] = m->d_member->offset;
    }
    int got = index_core(&lv, ncols, &bv, v2, images, &kv, &starts, &after, &row, &moved);
    if (got < 0) goto done;
    if (got == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (row % images) {
        PyErr_SetString(PyExc_ValueError, "an update without its after image");
        goto done;
    }
    nrows = PyLong_FromSsize_t(row / images);
    nbytes = PyLong_FromSsize_t(bv.len);
    if (!nrows || !nbytes) goto done;
    PyObject *obj = cls->tp_alloc(cls, 0);
    if (!obj) goto done;
    PyObject *vals[ISLOTS] = {kind, decoder, nrows, nbytes, bufobj, starts,
                              after ? after : Py_None, moved ? moved : Py_None,
                              Py_None, Py_None, Py_None, Py_None};
    for (int i = 0; i < ISLOTS; i++) {
        Py_INCREF(vals[i]);
        *(PyObject **)((char *)obj + off[i]) = vals[i];
    }
    result = obj;

done:
    Py_XDECREF(starts);
    Py_XDECREF(moved);
    Py_XDECREF(after);
    Py_XDECREF(nrows);
    Py_XDECREF(nbytes);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&kv);
    return result;
}

/* How build() hands a column over (rows_native.py's modes). The last four finish in C what
 * values.py's finishers do in Python (the twins): DECIMAL(p <= 18) as decimal128, DATETIME2 as
 * int64 microseconds, TIMESTAMP2 as int64 microseconds since the epoch (UTC), DATE as int32
 * days; a zero or invalid date becomes NULL and is counted. */
enum { M_LIST = 0, M_FIXED = 1, M_VAR = 2, M_DEC = 3, M_DATETIME = 4, M_TIMESTAMP = 5, M_DATE = 6 };

/* Days since 1970-01-01 of a proleptic Gregorian date, or INT64_MIN when it is not a date
 * Python's datetime.date takes (year 1..9999, month 1..12, day within the month): zero dates
 * and garbage alike. */
static int64_t civil_days(int64_t y, int64_t m, int64_t d) {
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return INT64_MIN;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[m] + (m == 2 && leap)) return INT64_MIN;
    y -= m <= 2;
    int64_t era = y / 400, yoe = y - era * 400; /* y >= 0 here */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const int64_t frac_mult[4] = {0, 10000, 100, 1}; /* by fractional bytes: to microseconds */

/* One temporal value (mode DATETIME / TIMESTAMP / DATE) -> int64; 0 and *zero set when it
 * becomes NULL. As values.py: _datetime's dt2, _timestamp's ts, _date. */
static int64_t temporal(uint8_t mode, const uint8_t *l, const uint8_t *p, int *zero) {
    *zero = 0;
    if (mode == M_DATE) {
        uint64_t v = le_u(p, 3);
        int64_t days = civil_days((int64_t)(v >> 9), (int64_t)(v >> 5 & 15), (int64_t)(v & 31));
        if (days == INT64_MIN) { *zero = 1; return 0; }
        return days;
    }
    int w = l[1], fb = w - (mode == M_DATETIME ? 5 : 4);
    uint64_t v = be_u(p, w), whole = v >> (8 * fb);
    int64_t frac = (int64_t)(v & ((1ULL << (8 * fb)) - 1)) * frac_mult[fb];
    if (mode == M_TIMESTAMP) {
        int64_t us = (int64_t)whole * 1000000 + frac;
        if (us == 0) *zero = 1; /* MySQL never stores the epoch itself: this is 0000-00-00 */
        return us;
    }
    const uint64_t off = 0x8000000000ULL;
    if (whole < off) { *zero = 1; return 0; } /* a negative packed value: no date */
    uint64_t x = whole - off, ymd = x >> 17, ym = ymd >> 5;
    int64_t days = civil_days((int64_t)(ym / 13), (int64_t)(ym % 13), (int64_t)(ymd & 31));
    if (days == INT64_MIN) { *zero = 1; return 0; }
    int64_t secs = days * 86400 + (int64_t)((x >> 12) & 31) * 3600
                   + (int64_t)((x >> 6) & 63) * 60 + (int64_t)(x & 63);
    return secs * 1000000 + frac;
}

typedef struct {
    int64_t bytes, nulls;
    int ascii;
    PyObject *validity, *a, *b; /* FIXED: data; VAR: offsets, data; LIST: the list */
    int64_t fill, cap; /* VAR: bytes of data written, and allocated (one_pass) */
    int64_t zeros; /* DATETIME/TIMESTAMP/DATE: zero dates made NULL; DEC: -1 out of range */
} Col;

static inline int is_ascii(const uint8_t *p, Py_ssize_t n) {
    uint64_t acc = 0, w;
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8) {
        memcpy(&w, p + k, 8);
        acc |= w;
    }
    for (; k < n; k++) acc |= p[k];
    return !(acc & 0x8080808080808080ULL);
}

static int fixed_width(const uint8_t *lay, uint8_t mode) {
    if (mode == M_DEC) return 16;
    if (mode == M_DATETIME || mode == M_TIMESTAMP) return 8;
    if (mode == M_DATE) return 4;
    if (lay[0] == C_FLOAT) return 4;
    if (lay[0] == C_DOUBLE) return 8;
    return lay[1] == 3 ? 4 : lay[1];
}


/* A DECIMAL, date or time value `v` finished into its fixed-width slot `out` (both fills use
 * this); returns 1 for a zero date (NULL). A DECIMAL with more digits than its precision (a
 * corrupt image) sets *overflow. */
static int finish_fixed(const uint8_t *l, uint8_t mode, const uint8_t *v, uint8_t *out,
                        int *overflow) {
    int zero = 0;
    if (mode == M_DEC) {
        __int128 d = decimal_value(v, l[1], l[2], l[3]);
        if (d >= pow10[l[2]] || d <= -pow10[l[2]]) *overflow = 1;
        int64_t lo = (int64_t)d, hi = lo < 0 ? -1 : 0; /* |d| < 10**18 */
        memcpy(out, &lo, 8);
        memcpy(out + 8, &hi, 8);
    } else {
        int64_t t = temporal(mode, l, v, &zero);
        if (mode == M_DATE) {
            int32_t d = (int32_t)t;
            memcpy(out, &d, 4);
        } else {
            memcpy(out, &t, 8);
        }
    }
    return zero;
}


/* Image r of a segment (`buf`, its starts `st`): its NULL bitmap in *nb and its first value
 * returned; NULL with ValueError set when it lies outside its buffer or its bitmap runs past
 * it (both fills check every image this way). */
static const uint8_t *image_start(const Py_buffer *buf, const int64_t *st, Py_ssize_t r,
                                  Py_ssize_t nbl, Py_ssize_t row, const uint8_t **nb) {
    if (st[r] < 0 || st[r] > buf->len) {
        PyErr_SetString(PyExc_ValueError, "build: a row image lies outside its buffer");
        return NULL;
    }
    const uint8_t *p = (const uint8_t *)buf->buf + st[r];
    if ((const uint8_t *)buf->buf + buf->len - p < nbl) {
        PyErr_Format(PyExc_ValueError, "row %zd: NULL bitmap runs past its event", row + 1);
        return NULL;
    }
    *nb = p;
    return p + nbl;
}


/* How one_pass reads and writes a column: its mode and layout folded into one step. */
enum { OP_LIST, OP_C1, OP_C2, OP_C4, OP_C8, OP_I3S, OP_I3U, OP_VAR, OP_FIN };

/* Where one_pass writes a column (into its Col's bytes objects). */
typedef struct {
    uint8_t *a, *v, *b; /* data or offsets; validity (NULL: none yet); VAR data */
} Hot;

/* Makes the validity of a column whose first NULL is at `row`: rows [0, row) valid. */
static int validity_from(Col *c, Hot *h, Py_ssize_t n, Py_ssize_t row) {
    if (!(c->validity = PyBytes_FromStringAndSize(NULL, (n + 7) / 8))) return -1;
    uint8_t *v = h->v = (uint8_t *)PyBytes_AS_STRING(c->validity);
    memset(v, 0, (size_t)(n + 7) / 8);
    memset(v, 0xFF, (size_t)(row >> 3));
    if (row & 7) v[row >> 3] = (uint8_t)((1u << (row & 7)) - 1);
    return 0;
}

/* build()'s fill in one pass over the images (the two-pass fill below sizes every column
 * first): every length is checked against its event before it is read, as there. A VAR
 * column's data grows as it fills, up to `bound` (the segments' bytes from their first image
 * on) unless offsets given twice need more. 0 when built; -1 on error; 1 when a VAR column
 * passes 2 GiB (only offsets given more than once get there: `bound` is below 2 GiB), for the
 * two-pass fill and its LIST fallback. The columns are left for the caller to free. */
static int one_pass(const uint8_t *lay, uint8_t *modes, Py_ssize_t ncols, Py_ssize_t nseg,
                    const Py_buffer *bufs, const Py_buffer *stv, Py_ssize_t n, int64_t bound,
                    Col *cols) {
    uint8_t *ops = PyMem_Malloc((size_t)ncols);
    Hot *hot = PyMem_Calloc((size_t)ncols, sizeof(Hot));
    int rc = -1;
    if (!ops || !hot) { PyErr_NoMemory(); goto out; }
    static const uint8_t copy_op[9] = {0, OP_C1, OP_C2, 0, OP_C4, 0, 0, 0, OP_C8};
    for (Py_ssize_t j = 0; j < ncols; j++) {
        Col *c = &cols[j];
        const uint8_t *l = lay + 4 * j;
        uint8_t m = modes[j];
        if (m == M_LIST) {
            ops[j] = OP_LIST;
            if (!(c->a = PyList_New(n))) goto out;
            continue;
        }
        if (m == M_VAR) {
            ops[j] = OP_VAR;
            c->cap = n * 8 < bound ? n * 8 : bound;
            c->a = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
            c->b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)c->cap);
            if (!c->a || !c->b) goto out;
            hot[j].a = (uint8_t *)PyBytes_AS_STRING(c->a);
            hot[j].b = (uint8_t *)PyBytes_AS_STRING(c->b);
            memset(hot[j].a, 0, 4);
            continue;
        }
        if (m >= M_DEC) { /* dates may become NULL while filled */
            ops[j] = OP_FIN;
            if (!(c->validity = PyBytes_FromStringAndSize(NULL, (n + 7) / 8))) goto out;
            hot[j].v = (uint8_t *)PyBytes_AS_STRING(c->validity);
            memset(hot[j].v, 0, (size_t)(n + 7) / 8);
        } else if (l[0] == C_INT_S && l[1] == 3) {
            ops[j] = OP_I3S;
        } else if (l[0] == C_INT_U && l[1] == 3) {
            ops[j] = OP_I3U;
        } else {
            ops[j] = copy_op[l[0] == C_FLOAT ? 4 : l[0] == C_DOUBLE ? 8 : l[1]];
        }
        size_t size = (size_t)(n * fixed_width(l, m));
        if (!(c->a = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size))) goto out;
        hot[j].a = (uint8_t *)PyBytes_AS_STRING(c->a);
        memset(hot[j].a, 0, size);
    }
    Py_ssize_t nbl = (ncols + 7) / 8, row = 0;
    for (Py_ssize_t s = 0; s < nseg; s++) {
        const uint8_t *buf = bufs[s].buf, *lim = buf + bufs[s].len;
        const int64_t *st = stv[s].buf;
        for (Py_ssize_t r = 0; r < stv[s].len / 8; r++, row++) {
            const uint8_t *nb, *p = image_start(&bufs[s], st, r, nbl, row, &nb);
            if (!p) goto out;
            uint8_t bit = (uint8_t)(1u << (row & 7));
            for (Py_ssize_t j = 0; j < ncols; j++) {
                Col *c = &cols[j];
                Hot *h = &hot[j];
                uint8_t op = ops[j];
                if (nb[j >> 3] >> (j & 7) & 1) {
                    c->nulls++;
                    if (op == OP_LIST) {
                        Py_INCREF(Py_None);
                        PyList_SET_ITEM(c->a, row, Py_None);
                    } else if (op != OP_FIN) {
                        if (!h->v && validity_from(c, h, n, row) < 0) goto out;
                        if (op == OP_VAR) ((int32_t *)h->a)[row + 1] = (int32_t)c->fill;
                    }
                    continue;
                }
                Py_ssize_t room = lim - p;
                switch (op) {
                case OP_C1:
                    if (room < 1) goto past;
                    h->a[row] = *p++;
                    break;
                case OP_C2:
                    if (room < 2) goto past;
                    memcpy(h->a + 2 * row, p, 2);
                    p += 2;
                    break;
                case OP_C4:
                    if (room < 4) goto past;
                    memcpy(h->a + 4 * row, p, 4);
                    p += 4;
                    break;
                case OP_C8:
                    if (room < 8) goto past;
                    memcpy(h->a + 8 * row, p, 8);
                    p += 8;
                    break;
                case OP_I3S:
                case OP_I3U: {
                    if (room < 3) goto past;
                    uint32_t x = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
                    if (op == OP_I3S && (x & 0x800000)) x |= 0xFF000000u;
                    memcpy(h->a + 4 * row, &x, 4);
                    p += 3;
                    break;
                }
                case OP_VAR: {
                    int w = lay[4 * j + 1];
                    if (room < w) goto past;
                    uint64_t len = w == 1 ? p[0] : le_u(p, w);
                    if (len > (uint64_t)(room - w)) goto past;
                    const uint8_t *v = p + w;
                    p = v + len;
                    int64_t need = c->fill + (int64_t)len;
                    if (need > c->cap) {
                        int64_t cap = c->cap * 2;
                        if (need > INT32_MAX) { rc = 1; goto out; } /* images given twice */
                        if (cap > bound) cap = bound; /* what the images hold, at most */
                        if (cap < need) cap = need;
                        if (_PyBytes_Resize(&c->b, (Py_ssize_t)cap) < 0) goto out;
                        c->cap = cap;
                        h->b = (uint8_t *)PyBytes_AS_STRING(c->b);
                    }
                    uint8_t *to = h->b + c->fill;
                    if (len <= 16 && lim - v >= 16 && c->cap - c->fill >= 16)
                        memcpy(to, v, 16); /* a fixed-size copy: its tail is written over */
                    else
                        memcpy(to, v, (size_t)len);
                    c->fill = need;
                    ((int32_t *)h->a)[row + 1] = (int32_t)need;
                    if (c->ascii) c->ascii = is_ascii(v, (Py_ssize_t)len);
                    break;
                }
                case OP_LIST: {
                    const uint8_t *l = lay + 4 * j;
                    Py_ssize_t skip, len = value_size(l, p, lim, &skip);
                    if (len < 0) goto past;
                    PyObject *o = value(l, p + skip, len);
                    if (!o) goto out;
                    PyList_SET_ITEM(c->a, row, o);
                    p += skip + len;
                    continue;
                }
                default: { /* OP_FIN: DECIMAL, dates and times, as the two-pass fill */
                    const uint8_t *l = lay + 4 * j;
                    Py_ssize_t skip, len = value_size(l, p, lim, &skip);
                    if (len < 0) goto past;
                    const uint8_t *v = p + skip;
                    p += skip + len;
                    uint8_t *out = h->a + row * fixed_width(l, modes[j]);
                    int overflow = 0;
                    int zero = finish_fixed(l, modes[j], v, out, &overflow);
                    if (overflow) c->zeros = -1;
                    if (zero) {
                        c->nulls++;
                        c->zeros++;
                    } else {
                        h->v[row >> 3] |= bit;
                    }
                    continue;
                }
                }
                if (h->v) h->v[row >> 3] |= bit;
                continue;
            past:
                PyErr_Format(PyExc_ValueError, "row %zd: column %zd runs past its event",
                             row + 1, j + 1);
                goto out;
            }
        }
    }
    for (Py_ssize_t j = 0; j < ncols; j++)
        if (ops[j] == OP_VAR && _PyBytes_Resize(&cols[j].b, (Py_ssize_t)cols[j].fill) < 0)
            goto out;
    rc = 0;
out:
    PyMem_Free(ops);
    PyMem_Free(hot);
    return rc;
}

/* build(layout, modes, ncols, segments[, two_pass]) -> [column, ...]
 *   `segments`: (buf, starts) pairs, `starts` the int64 offsets of row images in buf (from
 *   index()). Filled in one pass (one_pass), or in two where the images may pass 2 GiB or
 *   `two_pass` asks for it (the tests: both fills give the same columns). Per column, by its mode: LIST a list of the walker's values; FIXED (ints, floats)
 *   (validity | None, data, null_count), the ints widened to 1/2/4/8 bytes; VAR (byte strings)
 *   (validity | None, int32 offsets, data, null_count, all_ascii), or a list when the column
 *   holds over 2 GiB; DEC, DATETIME, TIMESTAMP, DATE (validity | None, data, null_count, zeros):
 *   the values finished (16/8/8/4 bytes), zeros the zero dates made NULL (counted in
 *   null_count), or -1 when a DECIMAL has more digits than its precision (hostile digit
 *   groups: the caller fails the table). Every image is checked again against its buffer. */
static PyObject *build(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer lv, mv;
    Py_ssize_t ncols;
    PyObject *segs;
    int two = 0; /* the tests' switch: always the two-pass fill */
    if (!PyArg_ParseTuple(args, "y*y*nO!|p", &lv, &mv, &ncols, &PyList_Type, &segs, &two))
        return NULL;
    PyObject *result = NULL;
    Col *cols = NULL;
    Py_ssize_t nseg = PyList_GET_SIZE(segs), n = 0;
    Py_buffer *bufs = PyMem_Calloc((size_t)nseg + 1, sizeof(Py_buffer));
    Py_buffer *stv = PyMem_Calloc((size_t)nseg + 1, sizeof(Py_buffer));
    Py_ssize_t got = 0;
    int64_t bound = 0;
    const uint8_t *lay = (const uint8_t *)lv.buf;
    uint8_t *modes = NULL;
    if (!bufs || !stv) { PyErr_NoMemory(); goto done; }
    if (ncols <= 0 || lv.len != ncols * 4 || mv.len != ncols) {
        PyErr_SetString(PyExc_ValueError, "build: bad layout, modes or column count");
        goto done;
    }
    if (check_layout(lay, ncols) < 0) goto done;
    modes = PyMem_Malloc((size_t)ncols);
    cols = PyMem_Calloc((size_t)ncols, sizeof(Col));
    if (!modes || !cols) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t j = 0; j < ncols; j++) {
        uint8_t m = ((const uint8_t *)mv.buf)[j], c = lay[4 * j];
        uint8_t w = lay[4 * j + 1];
        int ok = m == M_LIST || (m == M_FIXED && (c == C_INT_S || c == C_INT_U || c == C_FLOAT
                                                  || c == C_DOUBLE))
                 || (m == M_VAR && c == C_PREFIX) || (m == M_DEC && c == C_DEC)
                 || (m == M_DATETIME && c == C_BE_U && w >= 5 && w <= 8)
                 || (m == M_TIMESTAMP && c == C_BE_U && w >= 4 && w <= 7)
                 || (m == M_DATE && c == C_INT_U && w == 3);
        if (!ok || (m == M_FIXED && (c == C_INT_S || c == C_INT_U) && lay[4 * j + 1] > 4
                    && lay[4 * j + 1] != 8)) {
            PyErr_Format(PyExc_ValueError, "build: bad mode for column %zd", j + 1);
            goto done;
        }
        modes[j] = m;
        cols[j].ascii = 1;
    }
    for (; got < nseg; got++) {
        PyObject *t = PyList_GET_ITEM(segs, got);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2) {
            PyErr_SetString(PyExc_TypeError, "build: segments are (buf, starts) pairs");
            goto done;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 0), &bufs[got], PyBUF_SIMPLE) < 0) goto done;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 1), &stv[got], PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&bufs[got]);
            goto done;
        }
        if (stv[got].len % 8) {
            got++;
            PyErr_SetString(PyExc_ValueError, "build: starts are int64");
            goto done;
        }
        n += stv[got].len / 8;
        /* the bytes its images may hold: from its first image to the end of its buffer */
        const int64_t *st = stv[got].buf;
        int64_t first = bufs[got].len;
        for (Py_ssize_t r = 0; r < stv[got].len / 8; r++)
            if (st[r] >= 0 && st[r] < first) first = st[r];
        bound += bufs[got].len - first;
    }
    if (bound <= INT32_MAX && !two) {
        int one = one_pass(lay, modes, ncols, nseg, bufs, stv, n, bound, cols);
        if (one < 0) goto done;
        if (one == 0) goto built;
        for (Py_ssize_t j = 0; j < ncols; j++) { /* start again, in two passes */
            Col *c = &cols[j];
            Py_CLEAR(c->validity);
            Py_CLEAR(c->a);
            Py_CLEAR(c->b);
            memset(c, 0, sizeof *c);
            c->ascii = 1;
        }
    }
    Py_ssize_t nbl = (ncols + 7) / 8;

    /* Two passes over more than 2 GiB of images (a column may then need the LIST fallback).
     * Pass 1: NULL counts, string sizes; every image bounds-checked. */
    Py_ssize_t row = 0;
    for (Py_ssize_t s = 0; s < nseg; s++) {
        const uint8_t *buf = bufs[s].buf, *lim = buf + bufs[s].len;
        const int64_t *st = stv[s].buf;
        for (Py_ssize_t r = 0; r < stv[s].len / 8; r++, row++) {
            const uint8_t *nb, *p = image_start(&bufs[s], st, r, nbl, row, &nb);
            if (!p) goto done;
            for (Py_ssize_t j = 0; j < ncols; j++) {
                if (nb[j >> 3] >> (j & 7) & 1) { cols[j].nulls++; continue; }
                Py_ssize_t skip, len = value_size(lay + 4 * j, p, lim, &skip);
                if (len < 0) {
                    PyErr_Format(PyExc_ValueError, "row %zd: column %zd runs past its event",
                                 row + 1, j + 1);
                    goto done;
                }
                if (modes[j] == M_VAR) {
                    cols[j].bytes += len;
                    if (cols[j].ascii) cols[j].ascii = is_ascii(p + skip, len);
                }
                p += skip + len;
            }
        }
    }
    for (Py_ssize_t j = 0; j < ncols; j++) {
        Col *c = &cols[j];
        if (modes[j] == M_VAR && c->bytes > INT32_MAX) modes[j] = M_LIST;
        if (modes[j] == M_LIST) {
            if (!(c->a = PyList_New(n))) goto done;
            continue;
        }
        if (c->nulls || modes[j] >= M_DEC) { /* dates may become NULL while filled */
            if (!(c->validity = PyBytes_FromStringAndSize(NULL, (n + 7) / 8))) goto done;
            memset(PyBytes_AS_STRING(c->validity), 0, (size_t)(n + 7) / 8);
        }
        if (modes[j] == M_FIXED || modes[j] >= M_DEC) {
            c->a = PyBytes_FromStringAndSize(NULL, n * fixed_width(lay + 4 * j, modes[j]));
            if (!c->a) goto done;
            memset(PyBytes_AS_STRING(c->a), 0, (size_t)(n * fixed_width(lay + 4 * j, modes[j])));
        } else {
            c->a = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
            c->b = PyBytes_FromStringAndSize(NULL, c->bytes);
            if (!c->a || !c->b) goto done;
            ((int32_t *)PyBytes_AS_STRING(c->a))[0] = 0;
        }
    }

    /* Pass 2: fill (the bounds were checked in pass 1 over the same bytes). */
    row = 0;
    for (Py_ssize_t s = 0; s < nseg; s++) {
        const uint8_t *buf = bufs[s].buf;
        const int64_t *st = stv[s].buf;
        for (Py_ssize_t r = 0; r < stv[s].len / 8; r++, row++) {
            const uint8_t *p = buf + st[r], *nb = p, *lim = buf + bufs[s].len;
            p += nbl;
            for (Py_ssize_t j = 0; j < ncols; j++) {
                Col *c = &cols[j];
                const uint8_t *l = lay + 4 * j;
                int null = nb[j >> 3] >> (j & 7) & 1;
                if (modes[j] == M_LIST) {
                    PyObject *v = Py_None;
                    if (null) Py_INCREF(v);
                    else {
                        Py_ssize_t skip, len = value_size(l, p, lim, &skip);
                        v = value(l, p + skip, len);
                        if (!v) goto done;
                        p += skip + len;
                    }
                    PyList_SET_ITEM(c->a, row, v);
                    continue;
                }
                if (modes[j] >= M_DEC) {
                    if (null) continue;
                    Py_ssize_t skip, len = value_size(l, p, lim, &skip);
                    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(c->a)
                                   + row * fixed_width(l, modes[j]);
                    int overflow = 0;
                    int zero = finish_fixed(l, modes[j], p, out, &overflow);
                    if (overflow) c->zeros = -1;
                    if (zero) {
                        c->nulls++;
                        c->zeros++;
                    } else {
                        ((uint8_t *)PyBytes_AS_STRING(c->validity))[row >> 3] |= (uint8_t)(1u << (row & 7));
                    }
                    p += skip + len;
                    continue;
                }
                if (!null && c->validity)
                    ((uint8_t *)PyBytes_AS_STRING(c->validity))[row >> 3] |= (uint8_t)(1u << (row & 7));
                if (modes[j] == M_FIXED) {
                    if (null) continue;
                    int w = fixed_width(l, modes[j]);
                    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(c->a) + row * w;
                    if (l[0] == C_INT_S && l[1] == 3) {
                        uint32_t x = (uint32_t)le_u(p, 3);
                        if (x & 0x800000) x |= 0xFF000000u;
                        memcpy(out, &x, 4);
                    } else if (l[0] == C_INT_U && l[1] == 3) {
                        uint32_t x = (uint32_t)le_u(p, 3);
                        memcpy(out, &x, 4);
                    } else {
                        memcpy(out, p, (size_t)w); /* little-endian, as Arrow on this host */
                    }
                    p += l[0] == C_FLOAT ? 4 : l[0] == C_DOUBLE ? 8 : l[1];
                    continue;
                }
                int32_t *offs = (int32_t *)PyBytes_AS_STRING(c->a);
                if (!null) {
                    Py_ssize_t skip, len = value_size(l, p, lim, &skip);
                    memcpy(PyBytes_AS_STRING(c->b) + c->fill, p + skip, (size_t)len);
                    c->fill += len;
                    p += skip + len;
                }
                offs[row + 1] = (int32_t)c->fill;
            }
        }
    }

built:
    result = PyList_New(ncols);
    if (!result) goto done;
    for (Py_ssize_t j = 0; j < ncols; j++) {
        Col *c = &cols[j];
        PyObject *v = c->validity ? c->validity : Py_None, *t;
        if (modes[j] == M_LIST) { t = c->a; Py_INCREF(t); }
        else if (modes[j] >= M_DEC)
            t = Py_BuildValue("(OOLL)", c->nulls ? v : Py_None, c->a, (long long)c->nulls,
                              (long long)c->zeros);
        else if (modes[j] == M_FIXED) t = Py_BuildValue("(OOL)", v, c->a, (long long)c->nulls);
        else
            t = Py_BuildValue("(OOOLO)", v, c->a, c->b, (long long)c->nulls,
                              c->ascii ? Py_True : Py_False);
        if (!t) { Py_CLEAR(result); goto done; }
        PyList_SET_ITEM(result, j, t);
    }

done:
    if (cols) {
        for (Py_ssize_t j = 0; j < ncols; j++) {
            Py_XDECREF(cols[j].validity);
            Py_XDECREF(cols[j].a);
            Py_XDECREF(cols[j].b);
        }
        PyMem_Free(cols);
    }
    for (Py_ssize_t s = 0; s < got; s++) {
        PyBuffer_Release(&bufs[s]);
        PyBuffer_Release(&stv[s]);
    }
    PyMem_Free(bufs);
    PyMem_Free(stv);
    PyMem_Free(modes);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&mv);
    return result;
}

/* Where each column's value lies in the row image at buf[start:]: its offset in buf and its
 * length (-1: NULL). 0, or -1 with ValueError when the image runs past the buffer. */
static int image_spans(const uint8_t *lay, Py_ssize_t ncols, const uint8_t *buf, Py_ssize_t len,
                       int64_t start, Py_ssize_t row, Py_ssize_t *off, Py_ssize_t *size) {
    Py_ssize_t nbl = (ncols + 7) / 8;
    if (start < 0 || start > (int64_t)len || len - (Py_ssize_t)start < nbl) {
        bitmap_past_event(row);
        return -1;
    }
    const uint8_t *lim = buf + len, *nb = buf + start, *p = nb + nbl;
    for (Py_ssize_t i = 0; i < ncols; i++) {
        if (nb[i >> 3] >> (i & 7) & 1) {
            off[i] = 0;
            size[i] = -1;
            continue;
        }
        Py_ssize_t skip, n = column_size(lay, i, p, lim, row, &skip);
        if (n < 0) return -1;
        off[i] = p + skip - buf;
        size[i] = n;
        p += skip + n;
    }
    return 0;
}

/* changed(layout, ncols, buf, before, after) -> bytes
 *   For update row i, the images at int64 offsets before[i] and after[i] of buf: a bitmap of
 *   (ncols + 7) / 8 bytes (bit j of byte j / 8, least significant first) of the columns whose
 *   value differs, byte for byte or in NULL-ness. Equal bytes finish into equal values, so an
 *   unset bit means unchanged; a set bit may be a change the warehouse could not see (a
 *   superset, which is what its reader needs). Every image is bounds-checked as walk() does. */
/* The bitmaps of `rows` updates (their offsets at sb/ab) of one buffer into `bits` (zeroed);
 * `spans`: 4 * ncols scratch. 0, or -1 with ValueError as walk() raises it. */
static int changed_rows(const uint8_t *lay, Py_ssize_t ncols, const uint8_t *buf, Py_ssize_t len,
                        const uint8_t *sb, const uint8_t *ab, Py_ssize_t rows, uint8_t *bits,
                        Py_ssize_t *spans) {
    Py_ssize_t width = (ncols + 7) / 8;
    Py_ssize_t *ob = spans, *nb = spans + ncols, *oa = spans + 2 * ncols, *na = spans + 3 * ncols;
    for (Py_ssize_t r = 0; r < rows; r++) {
        int64_t b, a;
        memcpy(&b, sb + 8 * r, 8);
        memcpy(&a, ab + 8 * r, 8);
        if (image_spans(lay, ncols, buf, len, b, 2 * r, ob, nb) < 0
            || image_spans(lay, ncols, buf, len, a, 2 * r + 1, oa, na) < 0)
            return -1;
        uint8_t *row = bits + r * width;
        for (Py_ssize_t j = 0; j < ncols; j++) {
            if (nb[j] != na[j] || (nb[j] > 0 && memcmp(buf + ob[j], buf + oa[j], (size_t)nb[j])))
                row[j >> 3] |= (uint8_t)(1u << (j & 7));
        }
    }
    return 0;
}

/* What changed() and changed_many() answer into: `rows` zeroed bitmaps of (ncols + 7) / 8 bytes,
 * with the scratch both compare with in *spans (4 * ncols). NULL with an exception set when the
 * layout or column count is bad or memory is short (*spans may then need freeing). */
static PyObject *changed_out(const uint8_t *lay, Py_ssize_t lay_len, Py_ssize_t ncols,
                             Py_ssize_t rows, Py_ssize_t **spans) {
    if (ncols <= 0 || lay_len != ncols * 4) {
        PyErr_SetString(PyExc_ValueError, "changed: bad layout, column count or offsets");
        return NULL;
    }
    if (check_layout(lay, ncols) < 0) return NULL;
    Py_ssize_t width = (ncols + 7) / 8;
    *spans = PyMem_Malloc(4 * (size_t)ncols * sizeof(Py_ssize_t));
    PyObject *out = PyBytes_FromStringAndSize(NULL, rows * width);
    if (!*spans || !out) {
        Py_XDECREF(out);
        if (!*spans) PyErr_NoMemory();
        return NULL;
    }
    memset(PyBytes_AS_STRING(out), 0, (size_t)(rows * width));
    return out;
}

static PyObject *changed(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer lv, bv, sv, av;
    Py_ssize_t ncols;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*", &lv, &ncols, &bv, &sv, &av)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t *spans = NULL;
    const uint8_t *lay = (const uint8_t *)lv.buf;
    if (sv.len % 8 || av.len != sv.len) {
        PyErr_SetString(PyExc_ValueError, "changed: bad layout, column count or offsets");
        goto done;
    }
    Py_ssize_t rows = sv.len / 8;
    if (!(out = changed_out(lay, lv.len, ncols, rows, &spans))) goto done;
    uint8_t *bits = (uint8_t *)PyBytes_AS_STRING(out);
    if (changed_rows(lay, ncols, bv.buf, bv.len, sv.buf, av.buf, rows, bits, spans) < 0)
        Py_CLEAR(out);
done:
    PyMem_Free(spans);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&av);
    return out;
}

/* changed_many(layout, ncols, segments) -> bytes
 *   changed() of every (buf, before, after) of `segments`, its bitmaps one after the other:
 *   one call for a batch's updates (a 500-column row fills a rows event: a call per event cost
 *   as much as the comparing). Raises what the first failing changed() call would raise. The
 *   Python twin: row_diff.changed_segments. */
static PyObject *changed_many(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer lv;
    Py_ssize_t ncols;
    PyObject *segs;
    if (!PyArg_ParseTuple(args, "y*nO!", &lv, &ncols, &PyList_Type, &segs)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t *spans = NULL;
    const uint8_t *lay = (const uint8_t *)lv.buf;
    Py_ssize_t nseg = PyList_GET_SIZE(segs), width = (ncols + 7) / 8, rows = 0;
    for (Py_ssize_t s = 0; s < nseg; s++) { /* the size of the result: the offsets given */
        PyObject *t = PyList_GET_ITEM(segs, s);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) {
            PyErr_SetString(PyExc_TypeError, "changed_many: segments are (buf, before, after)");
            goto done;
        }
        Py_buffer sv;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 1), &sv, PyBUF_SIMPLE) < 0) goto done;
        rows += sv.len / 8;
        PyBuffer_Release(&sv);
    }
    if (!(out = changed_out(lay, lv.len, ncols, rows, &spans))) goto done;
    uint8_t *bits = (uint8_t *)PyBytes_AS_STRING(out);
    Py_ssize_t at = 0;
    for (Py_ssize_t s = 0; s < nseg; s++) {
        PyObject *t = PyList_GET_ITEM(segs, s);
        Py_buffer bv, sv, av;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 0), &bv, PyBUF_SIMPLE) < 0) {
            Py_CLEAR(out);
            goto done;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 1), &sv, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&bv);
            Py_CLEAR(out);
            goto done;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(t, 2), &av, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&bv);
            PyBuffer_Release(&sv);
            Py_CLEAR(out);
            goto done;
        }
        int rc = 0;
        Py_ssize_t n = sv.len / 8;
        if (sv.len % 8 || av.len != sv.len || at + n > rows) {
            PyErr_SetString(PyExc_ValueError, "changed: bad layout, column count or offsets");
            rc = -1;
        } else {
            rc = changed_rows(lay, ncols, bv.buf, bv.len, sv.buf, av.buf, n, bits + at * width,
                              spans);
        }
        PyBuffer_Release(&bv);
        PyBuffer_Release(&sv);
        PyBuffer_Release(&av);
        if (rc < 0) {
            Py_CLEAR(out);
            goto done;
        }
        at += n;
    }
    if (at != rows) { /* offsets that changed while we read them */
        PyErr_SetString(PyExc_ValueError, "changed: bad layout, column count or offsets");
        Py_CLEAR(out);
    }
done:
    PyMem_Free(spans);
    PyBuffer_Release(&lv);
    return out;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Walk row images into a flat list of finisher-ready values."},
    {"index", index_, METH_VARARGS, "Check row images; their offsets and moved keys."},
    {"image", image_, METH_VARARGS, "index() of one rows event made into a RowsImage."},
    {"build", build, METH_VARARGS, "Row images of many events -> Arrow-ready column buffers."},
    {"changed", changed, METH_VARARGS, "Which columns each update's two row images differ in."},
    {"changed_many", changed_many, METH_VARARGS, "changed() of many (buf, before, after) at once."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "zeroetl.native._binrows",
    "Binlog row images -> raw column values (see binrows.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__binrows(void) { return PyModule_Create(&module); }
