/* Text-protocol result sets -> one Arrow `binary` column per result column.
 *
 * The pure-Python twin is zeroetl/sources/mysql/resultset.py (`_walk_packets`, `_split_py`); the
 * tests compare the two on every shape. Both functions treat every byte as hostile: a length
 * that runs past its packet or row raises ValueError naming the row, never reads out of bounds.
 *
 * walk(buf, pos, end, cont, starts) -> (pos, state, cont, seq, spanned)
 *   Walks the complete packets of buf[pos:end]. For each packet that starts a row, appends its
 *   payload offset (int64, little-endian) to the bytearray `starts`. `cont` says the next packet
 *   continues a row over 16 MiB. Stops at the first incomplete packet (state 0), at the EOF
 *   packet closing the result set (state 1, pos at its header, seq its sequence id) or at an
 *   error packet (state 2, pos at its header). A continuation packet's bytes are never read as
 *   a row head. Returns `cont` for the next call (a packet of exactly 0xFFFFFF bytes continues)
 *   and `spanned`: some packet of this call continues in the next (a row over 16 MiB).
 *
 * split(buf, starts, ends, ncols) -> [(validity | None, offsets, data, null_count), ...]
 *   `starts`/`ends` are int64 arrays (bytes) of each row's payload [start, end) in buf; with
 *   `ends` empty, each row is one packet and its end comes from the packet header. For each
 *   column: Arrow validity bitmap (bytes, LSB first; None when no value is NULL), int32 offsets
 *   (n + 1 values) and the values' bytes, contiguous. Two passes: the first reads only the
 *   length prefixes (sizes, NULL counts), the second copies each value once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_PACKET 0xFFFFFF

/* One length-encoded prefix at p (< lim). Sets *len (-1 for NULL) and returns the prefix size,
 * or 0 when the prefix itself runs past lim or is not a valid prefix. */
static inline Py_ssize_t lenenc(const uint8_t *p, const uint8_t *lim, int64_t *len) {
    if (p >= lim) return 0;
    uint8_t b = p[0];
    if (b < 251) { *len = b; return 1; }
    if (b == 251) { *len = -1; return 1; }
    if (b == 252) {
        if (lim - p < 3) return 0;
        *len = (int64_t)p[1] | ((int64_t)p[2] << 8);
        return 3;
    }
    if (b == 253) {
        if (lim - p < 4) return 0;
        *len = (int64_t)p[1] | ((int64_t)p[2] << 8) | ((int64_t)p[3] << 16);
        return 4;
    }
    if (b == 254) {
        if (lim - p < 9) return 0;
        uint64_t v = 0;
        for (int k = 8; k >= 1; k--) v = (v << 8) | p[k];
        if (v > (uint64_t)INT64_MAX) return 0;
        *len = (int64_t)v;
        return 9;
    }
    return 0; /* 0xFF is an error packet's head, never a value prefix */
}

static PyObject *walk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t pos, end;
    int cont;
    PyObject *starts;
    if (!PyArg_ParseTuple(args, "y*nnpO!", &view, &pos, &end, &cont, &PyByteArray_Type, &starts))
        return NULL;
    if (pos < 0 || end > view.len || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "walk: pos/end outside the buffer");
        return NULL;
    }
    const uint8_t *buf = (const uint8_t *)view.buf;
    /* Worst case one start per 4-byte header: size the output once, trim at the end. */
    Py_ssize_t have = PyByteArray_GET_SIZE(starts);
    Py_ssize_t room = ((end - pos) / 4 + 1) * 8;
    if (PyByteArray_Resize(starts, have + room) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int64_t *out = (int64_t *)(PyByteArray_AS_STRING(starts) + have);
    Py_ssize_t nout = 0;
    int state = 0, seq = 0, spanned = 0;
    while (pos + 4 <= end) {
        Py_ssize_t ln = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16);
        Py_ssize_t nxt = pos + 4 + ln;
        if (nxt > end) break;
        if (!cont) {
            uint8_t head = ln ? buf[pos + 4] : 0;
            if (head == 0xFE && ln < 9) { state = 1; seq = buf[pos + 3]; break; }
            if (head == 0xFF) { state = 2; break; }
        }
        cont = ln == MAX_PACKET;
        spanned |= cont;
        out[nout++] = pos + 4;
        pos = nxt;
    }
    PyBuffer_Release(&view);
    if (PyByteArray_Resize(starts, have + nout * 8) < 0) return NULL;
    return Py_BuildValue("(niOiO)", pos, state, cont ? Py_True : Py_False, seq,
                         spanned ? Py_True : Py_False);
}

typedef struct {
    int64_t bytes;
    int64_t nulls;
} ColSize;

static PyObject *split_error(Py_ssize_t row, Py_ssize_t col) {
    PyErr_Format(PyExc_ValueError,
                 "malformed result set row %zd: the value of column %zd runs past the row",
                 row + 1, col + 1);
    return NULL;
}

static PyObject *split(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view, sv, ev;
    Py_ssize_t ncols;
    if (!PyArg_ParseTuple(args, "y*y*y*n", &view, &sv, &ev, &ncols)) return NULL;
    PyObject *result = NULL;
    ColSize *sizes = NULL;
    int64_t *re = NULL;
    int headers = ev.len == 0;
    PyObject **bufs = NULL; /* per column: validity, offsets, data */
    Py_ssize_t n = sv.len / 8;
    if (sv.len % 8 || (!headers && ev.len != sv.len) || ncols <= 0 || ncols > 65535) {
        PyErr_SetString(PyExc_ValueError, "split: bad starts/ends/ncols");
        goto done;
    }
    const uint8_t *buf = (const uint8_t *)view.buf;
    const int64_t *rs = (const int64_t *)sv.buf;
    re = headers ? PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t)) : (int64_t *)ev.buf;
    if (!re) { PyErr_NoMemory(); goto done; }
    if (headers) {
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t s0 = rs[i];
            if (s0 < 4 || s0 > view.len) {
                PyErr_SetString(PyExc_ValueError, "split: a row lies outside the buffer");
                goto done;
            }
            re[i] = s0 + (buf[s0 - 4] | (buf[s0 - 3] << 8) | (buf[s0 - 2] << 16));
        }
    }
    sizes = PyMem_Calloc((size_t)ncols, sizeof(ColSize));
    bufs = PyMem_Calloc((size_t)ncols * 3, sizeof(PyObject *));
    if (!sizes || !bufs) { PyErr_NoMemory(); goto done; }

    /* Pass 1: sizes and NULL counts; every prefix and value bounds-checked against its row. */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (rs[i] < 0 || re[i] > view.len || rs[i] > re[i]) {
            PyErr_SetString(PyExc_ValueError, "split: a row lies outside the buffer");
            goto done;
        }
        const uint8_t *p = buf + rs[i], *lim = buf + re[i];
        for (Py_ssize_t j = 0; j < ncols; j++) {
            int64_t len;
            Py_ssize_t k = lenenc(p, lim, &len);
            if (!k) { split_error(i, j); goto done; }
            p += k;
            if (len < 0) { sizes[j].nulls++; continue; }
            if (len > lim - p) { split_error(i, j); goto done; }
            p += len;
            sizes[j].bytes += len;
        }
        if (p != lim) {
            PyErr_Format(PyExc_ValueError,
                         "malformed result set row %zd: %zd bytes after its last column", i + 1,
                         (Py_ssize_t)(lim - p));
            goto done;
        }
    }
    for (Py_ssize_t j = 0; j < ncols; j++) {
        if (sizes[j].bytes > INT32_MAX) {
            PyErr_Format(PyExc_ValueError,
                         "column %zd holds %lld bytes in one chunk (over 2 GiB)", j + 1,
                         (long long)sizes[j].bytes);
            goto done;
        }
        bufs[3 * j + 1] = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
        bufs[3 * j + 2] = PyBytes_FromStringAndSize(NULL, sizes[j].bytes);
        if (!bufs[3 * j + 1] || !bufs[3 * j + 2]) goto done;
        if (sizes[j].nulls) {
            Py_ssize_t nb = (n + 7) / 8;
            bufs[3 * j] = PyBytes_FromStringAndSize(NULL, nb);
            if (!bufs[3 * j]) goto done;
            memset(PyBytes_AS_STRING(bufs[3 * j]), 0xFF, (size_t)nb);
        }
        ((int32_t *)PyBytes_AS_STRING(bufs[3 * j + 1]))[0] = 0;
    }

    /* Pass 2: copy. The bounds were checked in pass 1 over the same bytes. */
    {
        int32_t *fill = PyMem_Calloc((size_t)ncols, sizeof(int32_t));
        if (!fill) { PyErr_NoMemory(); goto done; }
        for (Py_ssize_t i = 0; i < n; i++) {
            const uint8_t *p = buf + rs[i], *lim = buf + re[i];
            for (Py_ssize_t j = 0; j < ncols; j++) {
                int64_t len;
                p += lenenc(p, lim, &len);
                int32_t *offs = (int32_t *)PyBytes_AS_STRING(bufs[3 * j + 1]);
                if (len < 0) {
                    uint8_t *bits = (uint8_t *)PyBytes_AS_STRING(bufs[3 * j]);
                    bits[i >> 3] &= (uint8_t)~(1u << (i & 7));
                } else {
                    memcpy(PyBytes_AS_STRING(bufs[3 * j + 2]) + fill[j], p, (size_t)len);
                    fill[j] += (int32_t)len;
                    p += len;
                }
                offs[i + 1] = fill[j];
            }
        }
        PyMem_Free(fill);
    }

    result = PyList_New(ncols);
    if (!result) goto done;
    for (Py_ssize_t j = 0; j < ncols; j++) {
        PyObject *validity = bufs[3 * j] ? bufs[3 * j] : Py_None;
        PyObject *t = Py_BuildValue("(OOOL)", validity, bufs[3 * j + 1], bufs[3 * j + 2],
                                    (long long)sizes[j].nulls);
        if (!t) { Py_CLEAR(result); goto done; }
        PyList_SET_ITEM(result, j, t);
    }

done:
    if (bufs) {
        for (Py_ssize_t k = 0; k < ncols * 3; k++) Py_XDECREF(bufs[k]);
        PyMem_Free(bufs);
    }
    PyMem_Free(sizes);
    if (headers) PyMem_Free(re); /* NULL-safe */
    PyBuffer_Release(&view);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&ev);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Walk complete row packets; collect their payload offsets."},
    {"split", split, METH_VARARGS, "Split rows of length-encoded values into binary columns."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "zeroetl.native._textrows",
    "Text-protocol result sets -> Arrow binary columns (see textrows.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__textrows(void) { return PyModule_Create(&module); }
