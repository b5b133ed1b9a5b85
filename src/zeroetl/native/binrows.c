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
static PyObject *decimal_int(const uint8_t *p, int size, int prec, int scale) {
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
    if (neg) v = -v;
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
            PyErr_Format(PyExc_ValueError,
                         "row image %zd: its NULL bitmap runs past the event", row + 1);
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
            const uint8_t *l = lay + 4 * i;
            Py_ssize_t skip, n = value_size(l, p, lim, &skip);
            if (n < 0) {
                PyErr_Format(PyExc_ValueError,
                             "row image %zd: the value of column %zd runs past the event",
                             row + 1, i + 1);
                goto done;
            }
            if (vec_push(&out, value(l, p + skip, n)) < 0) goto done;
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

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Walk row images into a flat list of finisher-ready values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "zeroetl.native._binrows",
    "Binlog row images -> raw column values (see binrows.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__binrows(void) { return PyModule_Create(&module); }
