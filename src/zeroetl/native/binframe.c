/* Binlog dump stream framing: a buffer of packets -> the Event objects of its plain events.
 *
 * The pure-Python twin is `frame` in zeroetl/sources/mysql/framing.py; the tests compare the
 * two on recorded, random, truncated and garbled buffers.
 *
 * frame(buf, pos, end, checksum, file, kinds, descriptors[, known]) -> (events, pos, last_log_pos)
 *   Walks the complete packets in buf[pos:end]. Each must be an OK packet (first byte 0)
 *   holding one whole event whose header's size matches the packet, of a type that `kinds`
 *   (256 bytes, indexed by event type) marks KIND_COPY or KIND_VIEW, with a good CRC32 when
 *   `checksum` is true. For each, an Event (its class is the owner of `descriptors`, the seven
 *   slot descriptors in Event's field order) with the body (header and checksum stripped) as a
 *   view into buf (KIND_VIEW: row events) or over its own copy (KIND_COPY).
 *   It stops, without raising, before the first packet that is anything else: incomplete, a
 *   continued (16 MiB) packet, an error/EOF packet, a control event, a size mismatch, a bad
 *   checksum. The caller's Python path then reads that packet and raises its usual errors, so
 *   both paths refuse hostile bytes the same way. Nothing outside buf[pos:end] is read.
 *
 *   `known` (a dict {table id: TABLE_MAP body bytes}, or None) names the TABLE_MAPs the
 *   consumer already holds: a TABLE_MAP whose body equals its table id's entry is passed over
 *   (no Event; its position still counts), as long as no TABLE_MAP has been returned earlier in
 *   the same call (the consumer's maps may change from that one on). Every small transaction
 *   maps its tables again, unchanged: three of its eight events.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#define KIND_COPY 1
#define KIND_VIEW 2
#define HEADER 19
#define NFIELDS 7
#define TABLE_MAP 19

static uint32_t u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Slot offsets of Event's fields, read from its member descriptors (checked to be plain
 * object slots of one class). */
static int slot_offsets(PyObject *descrs, PyTypeObject **cls, Py_ssize_t off[NFIELDS]) {
    if (!PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != NFIELDS) {
        PyErr_SetString(PyExc_TypeError, "descriptors must be a tuple of 7 slot descriptors");
        return -1;
    }
    *cls = NULL;
    for (Py_ssize_t i = 0; i < NFIELDS; i++) {
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyErr_SetString(PyExc_TypeError, "descriptors must be slot (member) descriptors");
            return -1;
        }
        PyMemberDescrObject *m = (PyMemberDescrObject *)d;
        PyTypeObject *owner = PyDescr_TYPE(m);
        if (*cls == NULL)
            *cls = owner;
        if (owner != *cls || m->d_member->type != T_OBJECT_EX ||
            m->d_member->offset < (Py_ssize_t)sizeof(PyObject) ||
            m->d_member->offset + (Py_ssize_t)sizeof(PyObject *) > owner->tp_basicsize) {
            PyErr_SetString(PyExc_TypeError, "descriptors must be object slots of one class");
            return -1;
        }
        off[i] = m->d_member->offset;
    }
    return 0;
}

static PyObject *make_event(PyTypeObject *cls, const Py_ssize_t off[NFIELDS], PyObject *vals[NFIELDS]) {
    PyObject *ev = cls->tp_alloc(cls, 0);
    if (ev == NULL)
        return NULL;
    for (int i = 0; i < NFIELDS; i++) {
        Py_INCREF(vals[i]);
        *(PyObject **)((char *)ev + off[i]) = vals[i];
    }
    /* An Event holds ints, a str and a memoryview over bytes: it can never be part of a
     * reference cycle, so the cyclic collector need not track it. Tracked, the events of a
     * receive buffer and of the items in flight were walked by every collection and promoted
     * to the old generation, which brought on full collections of the whole heap every few
     * thousand transactions. (subtype_dealloc untracks with the checking call: safe.) */
    if (PyObject_GC_IsTracked(ev))
        PyObject_GC_UnTrack(ev);
    return ev;
}

/* Whether the TABLE_MAP body at b[0:len] is the one `known` holds for its table id:
 * 1 yes, 0 no, -1 error. */
static int known_map(PyObject *known, const unsigned char *b, Py_ssize_t len) {
    if (len < 6)
        return 0;
    unsigned long long id = 0;
    for (int i = 5; i >= 0; i--)
        id = id << 8 | b[i];
    PyObject *key = PyLong_FromUnsignedLongLong(id);
    if (key == NULL)
        return -1;
    PyObject *have = PyDict_GetItemWithError(known, key); /* borrowed */
    Py_DECREF(key);
    if (have == NULL)
        return PyErr_Occurred() ? -1 : 0;
    return PyBytes_Check(have) && PyBytes_GET_SIZE(have) == len &&
           memcmp(PyBytes_AS_STRING(have), b, (size_t)len) == 0;
}

static PyObject *frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7 && nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "frame() takes 7 or 8 arguments");
        return NULL;
    }
    PyObject *known = nargs == 8 && args[7] != Py_None ? args[7] : NULL;
    if (known != NULL && !PyDict_Check(known)) {
        PyErr_SetString(PyExc_TypeError, "frame(): known must be a dict or None");
        return NULL;
    }
    PyObject *bufobj = args[0], *file = args[4], *kinds = args[5];
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    if (end == -1 && PyErr_Occurred())
        return NULL;
    int checksum = PyObject_IsTrue(args[3]);
    if (checksum < 0)
        return NULL;
    if (!PyUnicode_Check(file) || !PyBytes_Check(kinds) || PyBytes_GET_SIZE(kinds) != 256) {
        PyErr_SetString(PyExc_TypeError, "frame(): file must be str and kinds 256 bytes");
        return NULL;
    }
    const unsigned char *kind = (const unsigned char *)PyBytes_AS_STRING(kinds);
    PyTypeObject *cls;
    Py_ssize_t off[NFIELDS];
    if (slot_offsets(args[6], &cls, off) < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *events = NULL, *result = NULL;
    unsigned long last = 0;
    if (pos < 0 || end < pos || end > view.len) {
        PyErr_SetString(PyExc_ValueError, "frame(): pos/end outside the buffer");
        goto done;
    }
    events = PyList_New(0);
    if (events == NULL)
        goto done;
    const unsigned char *b = (const unsigned char *)view.buf;
    while (end - pos >= 4) {
        Py_ssize_t length = (Py_ssize_t)(u32(b + pos) & 0xFFFFFF);
        if (length == 0xFFFFFF || end - pos - 4 < length || length < 1 + HEADER)
            break;
        Py_ssize_t p = pos + 4, stop = p + length;
        if (b[p] != 0)
            break;
        p += 1;
        const unsigned char *h = b + p;
        unsigned typ = h[4];
        if (kind[typ] != KIND_COPY && kind[typ] != KIND_VIEW)
            break;
        if ((Py_ssize_t)u32(h + 9) != stop - p)
            break;
        if (checksum) {
            if (stop - p < HEADER + 4)
                break;
            stop -= 4;
            uLong crc = crc32(0L, Z_NULL, 0);
            Py_ssize_t at = p;
            while (at < stop) { /* zlib takes uInt lengths */
                uInt n = (uInt)((stop - at) > 0x40000000 ? 0x40000000 : (stop - at));
                crc = crc32(crc, b + at, n);
                at += n;
            }
            if ((uint32_t)crc != u32(b + stop))
                break;
        }
        unsigned long log_pos = u32(h + 13);
        if (typ == TABLE_MAP && known != NULL) {
            int same = known_map(known, h + HEADER, stop - p - HEADER);
            if (same < 0)
                goto done;
            if (same) {
                if (log_pos)
                    last = log_pos;
                pos = pos + 4 + length;
                continue;
            }
            known = NULL; /* returned: the consumer's maps may change from here on */
        }
        PyObject *vals[NFIELDS] = {NULL};
        PyObject *body = NULL;
        if (kind[typ] == KIND_VIEW) {
            body = PySequence_GetSlice(bufobj, p + HEADER, stop);
        } else {
            PyObject *own = PyBytes_FromStringAndSize((const char *)h + HEADER, stop - p - HEADER);
            if (own != NULL) {
                body = PyMemoryView_FromObject(own);
                Py_DECREF(own);
            }
        }
        vals[0] = PyLong_FromUnsignedLong(typ);
        vals[1] = PyLong_FromUnsignedLong(u32(h));
        vals[2] = PyLong_FromUnsignedLong(u32(h + 5));
        vals[3] = file;
        Py_INCREF(file);
        vals[4] = PyLong_FromUnsignedLong(log_pos);
        vals[5] = body;
        vals[6] = PyLong_FromUnsignedLong((unsigned long)h[17] | (unsigned long)h[18] << 8);
        PyObject *ev = NULL;
        int ok = 1;
        for (int i = 0; i < NFIELDS; i++)
            ok = ok && vals[i] != NULL;
        if (ok)
            ev = make_event(cls, off, vals);
        for (int i = 0; i < NFIELDS; i++)
            Py_XDECREF(vals[i]);
        if (ev == NULL)
            goto done;
        int rc = PyList_Append(events, ev);
        Py_DECREF(ev);
        if (rc < 0)
            goto done;
        if (log_pos)
            last = log_pos;
        pos = pos + 4 + length;
    }
    result = Py_BuildValue("(Onk)", events, pos, last);
done:
    Py_XDECREF(events);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"frame", (PyCFunction)(void (*)(void))frame, METH_FASTCALL,
     "frame(buf, pos, end, checksum, file, kinds, descriptors[, known]) -> (events, pos, last_log_pos)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_binframe", "Binlog dump stream framing (see binframe.c).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__binframe(void) { return PyModule_Create(&module); }
