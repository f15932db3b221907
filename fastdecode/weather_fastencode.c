/* The producer's fast path: a page of table rows straight into Kafka record batches (message format
 * v2), without a Python object per row.
 *
 * For each row it builds the record kafka-python's DefaultRecordBatchBuilder.append builds for what the
 * producer's send() passes (weather/produce/delivery.py): key = the station id in UTF-8, value = the
 * Report as upb serializes it (weather/common/report.py: fields in number order, an empty string and
 * +0.0 left out, any other double written with its bits, -0.0 and NaN payloads included), one header
 * `row_id` = the id in decimal, timestamp delta 0 (one timestamp per page), offset delta = its place in
 * the batch; and puts it in the partition Kafka's default partitioner gives the key (murmur2, as
 * weather/common/records.partition_for). A batch is closed when the next record would take it past
 * batch_size, the same test kafka-python makes, so the batches are the ones kafka-python's accumulator
 * would have built from the same sends.
 *
 * Each batch is returned as a bytearray whose first 61 bytes (the batch header: producer id, epoch,
 * base sequence, CRC) are left zero: kafka-python writes them when its sender drains the batch, as it
 * does for its own (weather/common/kafka_adapter.py hands the batches to it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BATCH_HEADER 61 /* a v2 record batch's header, before its first record */
#define MAX_VARINT 10

static const char ROW_ID[] = "row_id";

typedef struct {
    uint8_t *data;
    Py_ssize_t size, capacity;
    Py_ssize_t records;
    long long last_row_id;
} Batch; /* the batch being filled for one partition */

static int reserve(Batch *batch, Py_ssize_t more) {
    if (batch->size + more <= batch->capacity) return 0;
    Py_ssize_t capacity = batch->capacity ? batch->capacity : 4096;
    while (capacity < batch->size + more) capacity *= 2;
    uint8_t *grown = PyMem_Realloc(batch->data, capacity);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (batch->capacity == 0) memset(grown, 0, BATCH_HEADER); /* the header kafka-python writes later */
    batch->data = grown;
    batch->capacity = capacity;
    return 0;
}

/* Kafka's murmur2 (kafka-python's kafka.partitioner.default.murmur2), in 32-bit unsigned arithmetic. */
static uint32_t murmur2(const uint8_t *data, Py_ssize_t length) {
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)length;
    Py_ssize_t whole = length & ~(Py_ssize_t)3;
    for (Py_ssize_t i = 0; i < whole; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                     (uint32_t)data[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (length & 3) {
    case 3:
        h ^= (uint32_t)data[whole + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[whole + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[whole];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/* Kafka's varint: zigzag, then 7 bits a byte (kafka-python's encode_varint). */
static uint64_t zigzag(int64_t value) { return ((uint64_t)value << 1) ^ (uint64_t)(value >> 63); }

static int size_of_unsigned(uint64_t value) {
    int size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

static int size_of_varint(int64_t value) { return size_of_unsigned(zigzag(value)); }

/* Protobuf's varint is the unsigned one: a length as is. */
static uint8_t *put_unsigned(uint8_t *out, uint64_t value) {
    while (value >= 0x80) {
        *out++ = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    *out++ = (uint8_t)value;
    return out;
}

static uint8_t *put_varint(uint8_t *out, int64_t value) { return put_unsigned(out, zigzag(value)); }

static uint8_t *put_string_field(uint8_t *out, uint8_t tag, const char *text, Py_ssize_t size) {
    if (size == 0) return out; /* proto3 leaves an empty string out */
    *out++ = tag;
    out = put_unsigned(out, (uint64_t)size);
    memcpy(out, text, size);
    return out + size;
}

static Py_ssize_t size_of_string_field(Py_ssize_t size) {
    return size ? 1 + size_of_unsigned((uint64_t)size) + size : 0;
}

/* The closed batch as (partition, bytearray, records, last row id), appended to `out`. */
static int emit(PyObject *out, Batch *batch, long partition) {
    PyObject *bytes = PyByteArray_FromStringAndSize((const char *)batch->data, batch->size);
    if (bytes == NULL) return -1;
    PyObject *item = Py_BuildValue("(lNnL)", partition, bytes, batch->records, batch->last_row_id);
    if (item == NULL) return -1;
    int failed = PyList_Append(out, item);
    Py_DECREF(item);
    batch->size = BATCH_HEADER;
    batch->records = 0;
    return failed;
}

/* One row's fields, checked: a TypeError names the row and the field otherwise. */
typedef struct {
    long long id;
    const char *station, *date;
    Py_ssize_t station_size, date_size;
    double degrees;
} Row;

static int read_row(PyObject *row, Py_ssize_t index, Row *out) {
    PyObject *fields = PySequence_Fast(row, "a row must be a sequence (id, station_id, date, degrees)");
    if (fields == NULL) return -1;
    int ok = 0;
    if (PySequence_Fast_GET_SIZE(fields) != 4) {
        PyErr_Format(PyExc_TypeError, "row %zd has %zd fields, not 4 (id, station_id, date, degrees)", index,
                     PySequence_Fast_GET_SIZE(fields));
    } else {
        PyObject **items = PySequence_Fast_ITEMS(fields);
        if (!PyLong_Check(items[0]) || !PyUnicode_Check(items[1]) || !PyUnicode_Check(items[2])) {
            PyErr_Format(PyExc_TypeError, "row %zd: id must be int, station_id and date str (got %s, %s, %s)", index,
                         Py_TYPE(items[0])->tp_name, Py_TYPE(items[1])->tp_name, Py_TYPE(items[2])->tp_name);
        } else {
            out->id = PyLong_AsLongLong(items[0]);
            int id_fits = !(out->id == -1 && PyErr_Occurred());
            if (!id_fits) {
                PyErr_Clear();
                PyErr_Format(PyExc_OverflowError, "row %zd: id %R does not fit in 64 bits", index, items[0]);
            }
            /* The UTF-8 stays valid as long as the string lives: the caller holds the rows. */
            out->station = id_fits ? PyUnicode_AsUTF8AndSize(items[1], &out->station_size) : NULL;
            out->date = out->station ? PyUnicode_AsUTF8AndSize(items[2], &out->date_size) : NULL;
            out->degrees = out->date ? PyFloat_AsDouble(items[3]) : -1.0;
            ok = out->date != NULL && !(out->degrees == -1.0 && PyErr_Occurred());
        }
    }
    Py_DECREF(fields);
    return ok ? 0 : -1;
}

/* `value` in decimal, as b"%d" % value writes it (snprintf takes a tenth of the whole build); its length. */
static int decimal(char *out, long long value) {
    char digits[24];
    int size = 0;
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[size++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    int written = 0;
    if (value < 0) out[written++] = '-';
    while (size) out[written++] = digits[--size];
    return written;
}

/* The size of a record after its length varint (kafka-python's message_len). */
static Py_ssize_t record_body(Py_ssize_t offset_delta, const Row *row, Py_ssize_t value_size, int row_id_size) {
    return 1 + 1 + size_of_varint(offset_delta) + /* attributes, timestamp delta 0, offset delta */
           size_of_varint(row->station_size) + row->station_size + size_of_varint(value_size) + value_size +
           1 + 1 + (Py_ssize_t)sizeof ROW_ID - 1 + size_of_varint(row_id_size) + row_id_size; /* one header */
}

/* Append the row's record to the partition's batch (closing it first into `out` if the record does not fit). */
static int append_record(PyObject *out, Batch *batch, long partition, const Row *row, Py_ssize_t batch_size) {
    char row_id[24];
    int row_id_size = decimal(row_id, row->id);
    uint64_t degree_bits;
    memcpy(&degree_bits, &row->degrees, 8);
    Py_ssize_t value_size = size_of_string_field(row->date_size) + (degree_bits ? 9 : 0) +
                            size_of_string_field(row->station_size);
    Py_ssize_t body = record_body(batch->records, row, value_size, row_id_size);
    /* kafka-python's test: the batch so far (header included) plus this record past batch_size, and not
     * the batch's first record. */
    if (batch->records > 0 && batch->size + body + size_of_varint(body) > batch_size) {
        if (emit(out, batch, partition) < 0) return -1;
        body = record_body(0, row, value_size, row_id_size);
    }
    Py_ssize_t offset_delta = batch->records;
    if (reserve(batch, body + MAX_VARINT) < 0) return -1;
    uint8_t *at = batch->data + batch->size;
    at = put_varint(at, body);
    *at++ = 0;                     /* attributes */
    at = put_varint(at, 0);        /* timestamp delta */
    at = put_varint(at, offset_delta);
    at = put_varint(at, row->station_size); /* key */
    memcpy(at, row->station, row->station_size);
    at += row->station_size;
    at = put_varint(at, value_size); /* value: the Report */
    at = put_string_field(at, 0x0a, row->date, row->date_size);
    if (degree_bits) {
        *at++ = 0x11;
        memcpy(at, &row->degrees, 8); /* little-endian on every platform we build for, as the decoder */
        at += 8;
    }
    at = put_string_field(at, 0x1a, row->station, row->station_size);
    at = put_varint(at, 1); /* one header */
    at = put_varint(at, sizeof ROW_ID - 1);
    memcpy(at, ROW_ID, sizeof ROW_ID - 1);
    at += sizeof ROW_ID - 1;
    at = put_varint(at, row_id_size);
    memcpy(at, row_id, row_id_size);
    at += row_id_size;
    batch->size = at - batch->data;
    batch->records++;
    batch->last_row_id = row->id;
    return 0;
}

static PyObject *record_batches(PyObject *module, PyObject *args) {
    PyObject *rows;
    long partitions;
    Py_ssize_t batch_size;
    if (!PyArg_ParseTuple(args, "Oln", &rows, &partitions, &batch_size)) return NULL;
    if (partitions < 1) {
        PyErr_Format(PyExc_ValueError, "partitions must be at least 1, not %ld", partitions);
        return NULL;
    }
    PyObject *page = PySequence_Fast(rows, "rows must be a sequence of (id, station_id, date, degrees)");
    if (page == NULL) return NULL;
    Batch *batches = PyMem_Calloc(partitions, sizeof(Batch));
    PyObject *out = batches ? PyList_New(0) : PyErr_NoMemory();
    int failed = out == NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(page);
    PyObject **items = PySequence_Fast_ITEMS(page);
    for (Py_ssize_t index = 0; !failed && index < count; index++) {
        Row row;
        failed = read_row(items[index], index, &row) < 0;
        if (failed) break;
        long partition = (long)((murmur2((const uint8_t *)row.station, row.station_size) & 0x7fffffff) %
                                (uint32_t)partitions);
        Batch *batch = &batches[partition];
        if (batch->capacity == 0) {
            failed = reserve(batch, BATCH_HEADER) < 0;
            batch->size = BATCH_HEADER;
        }
        failed = failed || append_record(out, batch, partition, &row, batch_size) < 0;
    }
    for (long partition = 0; !failed && partition < partitions; partition++)
        if (batches[partition].records > 0) failed = emit(out, &batches[partition], partition) < 0;
    for (long partition = 0; batches && partition < partitions; partition++) PyMem_Free(batches[partition].data);
    PyMem_Free(batches);
    Py_DECREF(page);
    if (failed) Py_CLEAR(out);
    return out;
}

static PyMethodDef methods[] = {
    {"record_batches", record_batches, METH_VARARGS,
     "record_batches(rows, partitions, batch_size)\n\n"
     "The rows (id, station_id, date, degrees), in order, as Kafka v2 record batches: a list of\n"
     "(partition, batch, records, last_row_id), each partition's batches in row order. A batch is a\n"
     "bytearray whose 61-byte header is left zero, for kafka-python to write when it sends it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {PyModuleDef_HEAD_INIT, "weather_fastencode",
                                        "The producer's compiled record-batch builder.", -1, methods};

PyMODINIT_FUNC PyInit_weather_fastencode(void) { return PyModule_Create(&definition); }
