/* The consumer's fast path: one Kafka record batch's records (message format v2, already
 * decompressed) straight into the columns of a Parquet batch, without a Python object per record.
 *
 * It decodes only what it can decode exactly as the pure-Python path would (kafka-python's record
 * parser, then weather/report.py and weather/resume.py): well-formed records whose `row_id` header is
 * missing or plain ASCII digits, and whose value is a Report with exactly the fields 1 (date, a
 * YYYY-MM-DD of ASCII digits), 2 (degrees) and 3 (station id, non-empty ASCII). On anything else (a
 * malformed record, a value that is not such a Report, a header it cannot read) it returns None, and
 * the caller decodes the whole record batch the pure-Python way, which then decides: a dead letter,
 * a kept record or kafka-python's own error. So the fast path never has a behaviour of its own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t size, capacity;
} Buffer;

static int buffer_append(Buffer *buffer, const void *bytes, Py_ssize_t size) {
    if (buffer->size + size > buffer->capacity) {
        Py_ssize_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < buffer->size + size) capacity *= 2;
        char *grown = PyMem_Realloc(buffer->data, capacity);
        if (grown == NULL) return -1;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->size, bytes, size);
    buffer->size += size;
    return 0;
}

typedef struct {
    const uint8_t *at, *end;
    int ok; /* cleared by any read that does not fit: the record is left to the Python path */
} Reader;

/* A zigzag varint as kafka-python reads it. Values needing more than 63 bits are left to Python,
 * whose integers do not overflow. */
static int64_t read_varlong(Reader *reader) {
    uint64_t value = 0;
    for (int shift = 0; shift < 63 && reader->at < reader->end; shift += 7) {
        uint8_t byte = *reader->at++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) return (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
    }
    reader->ok = 0;
    return 0;
}

/* `size` bytes from the reader; NULL (and not ok) if they are not there. */
static const uint8_t *read_bytes(Reader *reader, int64_t size) {
    if (size < 0 || size > reader->end - reader->at) {
        reader->ok = 0;
        return NULL;
    }
    const uint8_t *start = reader->at;
    reader->at += size;
    return start;
}

static int is_ascii(const uint8_t *bytes, int64_t size) {
    for (int64_t i = 0; i < size; i++)
        if (bytes[i] & 0x80) return 0;
    return 1;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int is_date(const uint8_t *d, int64_t size) {
    return size == 10 && is_digit(d[0]) && is_digit(d[1]) && is_digit(d[2]) && is_digit(d[3]) && d[4] == '-' &&
           is_digit(d[5]) && is_digit(d[6]) && d[7] == '-' && is_digit(d[8]) && is_digit(d[9]);
}

/* A protobuf length: an unsigned varint of at most 5 bytes, below 2 GiB. */
static int64_t read_length(Reader *reader) {
    uint64_t value = 0;
    for (int shift = 0; shift < 35 && reader->at < reader->end; shift += 7) {
        uint8_t byte = *reader->at++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            if (value > INT32_MAX) break;
            return (int64_t)value;
        }
    }
    reader->ok = 0;
    return -1;
}

typedef struct {
    const uint8_t *date, *station;
    int64_t date_size, station_size;
    double degrees;
} Report;

/* A Report with the three known fields only (last one wins, as protobuf's), or 0. */
static int parse_report(const uint8_t *value, int64_t size, Report *report) {
    Reader reader = {value, value + size, 1};
    memset(report, 0, sizeof *report);
    while (reader.ok && reader.at < reader.end) {
        uint8_t tag = *reader.at++;
        if (tag == 0x0a) { /* field 1, length-delimited: date */
            report->date_size = read_length(&reader);
            report->date = read_bytes(&reader, report->date_size);
        } else if (tag == 0x11) { /* field 2, 64-bit: degrees */
            const uint8_t *bits = read_bytes(&reader, 8);
            if (bits) memcpy(&report->degrees, bits, 8); /* little-endian on every platform we build for */
        } else if (tag == 0x1a) { /* field 3, length-delimited: station id */
            report->station_size = read_length(&reader);
            report->station = read_bytes(&reader, report->station_size);
        } else {
            return 0;
        }
    }
    return reader.ok && report->date && is_date(report->date, report->date_size) && report->station &&
           report->station_size > 0 && is_ascii(report->station, report->station_size);
}

/* The record's `row_id`: >= 1, 0 when the record has no usable one, -1 when only Python can tell. */
static int64_t parse_row_id(const uint8_t *value, int64_t size) {
    if (value == NULL) return 0; /* a header without a value */
    if (size < 1 || size > 18) return -1;
    int64_t row_id = 0;
    for (int64_t i = 0; i < size; i++) {
        if (!is_digit(value[i])) return -1;
        row_id = row_id * 10 + (value[i] - '0');
    }
    return row_id; /* "0" is no usable id either, as in weather/resume.py */
}

static const char ROW_ID[] = "row_id";

static PyObject *decode_reports(PyObject *module, PyObject *args) {
    Py_buffer records;
    long long base_offset, min_offset, end_offset, high_water;
    int count;
    if (!PyArg_ParseTuple(args, "y*iLLLL", &records, &count, &base_offset, &min_offset, &end_offset, &high_water))
        return NULL;

    Buffer dates = {0}, date_offsets = {0}, degrees = {0}, stations = {0}, station_offsets = {0};
    int32_t zero = 0;
    long long first_offset = -1, last_offset = -1, duplicates = 0, rows = 0;
    int decodable = buffer_append(&date_offsets, &zero, 4) == 0 && buffer_append(&station_offsets, &zero, 4) == 0;
    int failed = !decodable; /* out of memory */
    Reader reader = {records.buf, (const uint8_t *)records.buf + records.len, 1};

    for (int index = 0; decodable && !failed && index < count; index++) {
        int64_t length = read_varlong(&reader);
        const uint8_t *start = reader.at;
        read_varlong(&reader); /* attributes: unused */
        read_varlong(&reader); /* timestamp delta */
        long long offset = base_offset + read_varlong(&reader);
        int64_t key_size = read_varlong(&reader);
        if (key_size >= 0) read_bytes(&reader, key_size);
        int64_t value_size = read_varlong(&reader);
        const uint8_t *value = value_size >= 0 ? read_bytes(&reader, value_size) : NULL;
        int64_t header_count = read_varlong(&reader);
        int64_t row_id = 0;
        int row_id_seen = 0;
        if (header_count < 0) reader.ok = 0;
        for (int64_t h = 0; reader.ok && h < header_count; h++) {
            int64_t name_size = read_varlong(&reader);
            const uint8_t *name = read_bytes(&reader, name_size);
            int64_t header_size = read_varlong(&reader);
            const uint8_t *header = header_size >= 0 ? read_bytes(&reader, header_size) : NULL;
            if (!reader.ok || !is_ascii(name, name_size)) {
                reader.ok = 0;
            } else if (!row_id_seen && name_size == 6 && memcmp(name, ROW_ID, 6) == 0) {
                row_id_seen = 1; /* the first row_id header decides */
                row_id = parse_row_id(header, header_size);
            }
        }
        if (!reader.ok || length < 0 || reader.at - start != length || row_id < 0 || value == NULL) {
            decodable = 0;
            break;
        }
        if (offset < min_offset || offset >= end_offset) continue; /* another poll's part of the record batch */
        if (first_offset < 0) first_offset = offset;
        last_offset = offset;
        if (row_id >= 1 && row_id <= high_water) {
            duplicates++;
            continue;
        }
        Report report;
        if (!parse_report(value, value_size, &report)) {
            decodable = 0;
            break;
        }
        int32_t dates_end = (int32_t)(dates.size + report.date_size);
        int32_t stations_end = (int32_t)(stations.size + report.station_size);
        failed = buffer_append(&dates, report.date, report.date_size) || buffer_append(&date_offsets, &dates_end, 4) ||
                 buffer_append(&degrees, &report.degrees, 8) ||
                 buffer_append(&stations, report.station, report.station_size) ||
                 buffer_append(&station_offsets, &stations_end, 4);
        rows++;
        if (row_id >= 1) high_water = row_id;
    }
    if (decodable && !failed && reader.at != reader.end) decodable = 0; /* bytes after the last record */
    PyBuffer_Release(&records);

    PyObject *result = NULL;
    if (failed) {
        PyErr_NoMemory();
    } else if (!decodable) {
        result = Py_NewRef(Py_None);
    } else {
        result = Py_BuildValue("(y#y#y#y#y#LLLLL)", dates.data ? dates.data : "", dates.size, date_offsets.data,
                               date_offsets.size, degrees.data ? degrees.data : "", degrees.size,
                               stations.data ? stations.data : "", stations.size, station_offsets.data,
                               station_offsets.size, rows, first_offset, last_offset, duplicates, high_water);
    }
    PyMem_Free(dates.data);
    PyMem_Free(date_offsets.data);
    PyMem_Free(degrees.data);
    PyMem_Free(stations.data);
    PyMem_Free(station_offsets.data);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_reports", decode_reports, METH_VARARGS,
     "decode_reports(records, count, base_offset, min_offset, end_offset, high_water)\n\n"
     "The records of one v2 record batch (decompressed, after its header) as Report columns:\n"
     "(dates, date_offsets, degrees, station_ids, station_offsets, rows, first_offset, last_offset,\n"
     "duplicates, high_water), strings as Arrow data + int32 offsets; only records with offsets in\n"
     "[min_offset, end_offset) count, and those whose row_id is at or below the running high_water\n"
     "are counted as duplicates.\n"
     "None when a record needs the pure-Python path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {PyModuleDef_HEAD_INIT, "weather_fastdecode",
                                        "The consumer's compiled record-batch decoder.", -1, methods};

PyMODINIT_FUNC PyInit_weather_fastdecode(void) { return PyModule_Create(&definition); }
