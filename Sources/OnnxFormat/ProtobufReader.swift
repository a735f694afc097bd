import FileIO

/// Reads the protocol-buffers wire format in place, over the bytes of a mapped file: a field's value is
/// a number, or the range of the file its bytes occupy, so tensor data is never copied. Every length is
/// checked against what is left of its enclosing message before use; groups (wire types 3 and 4), which
/// ONNX never writes, are refused.
struct ProtobufReader {
    /// A field's value as the wire carries it.
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        /// Length-delimited: bytes, a string, a nested message or a packed repeated field.
        case bytes(Range<Int>)
    }

    struct Field {
        let number: Int
        let value: Value
        /// Where the field's key starts in the file, for messages.
        let offset: Int
    }

    let buffer: UnsafeRawBufferPointer
    let path: String
    private(set) var position: Int
    let end: Int

    init(buffer: UnsafeRawBufferPointer, range: Range<Int>, path: String) {
        self.buffer = buffer
        self.path = path
        position = range.lowerBound
        end = range.upperBound
    }

    /// A reader over a nested message's bytes.
    func message(_ range: Range<Int>) -> ProtobufReader { ProtobufReader(buffer: buffer, range: range, path: path) }

    func malformed(_ offset: Int, _ what: String) -> OnnxFormatError { .malformed(path: path, offset: offset, what: what) }

    /// The next field, or nil at the end of the message.
    mutating func next() throws -> Field? {
        guard position < end else { return nil }
        let start = position
        let key = try varint()
        let number = key >> 3
        guard number > 0, number < 1 << 29 else { throw malformed(start, "field number \(number) is out of range") }
        switch key & 7 {
        case 0: return Field(number: Int(number), value: .varint(try varint()), offset: start)
        case 1: return Field(number: Int(number), value: .fixed64(try fixed(8)), offset: start)
        case 5: return Field(number: Int(number), value: .fixed32(UInt32(try fixed(4))), offset: start)
        case 2:
            let length = try varint()
            guard length <= UInt64(end - position) else {
                throw malformed(start, "field \(number) declares \(length) bytes but its message has \(end - position) left")
            }
            let range = position..<(position + Int(length))
            position = range.upperBound
            return Field(number: Int(number), value: .bytes(range), offset: start)
        default:
            throw malformed(start, "wire type \(key & 7) (groups or an unknown type) in field \(number); ONNX writes none")
        }
    }

    private mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<10 {
            guard position < end else { throw malformed(position, "a varint runs past the end of its message") }
            let byte = buffer[position]
            position += 1
            guard index < 9 || byte <= 1 else { throw malformed(position - 1, "a varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << (7 * UInt64(index))
            if byte < 0x80 { return value }
        }
        throw malformed(position, "a varint is longer than 10 bytes")
    }

    private mutating func fixed(_ width: Int) throws -> UInt64 {
        guard end - position >= width else { throw malformed(position, "a \(width * 8)-bit value runs past the end of its message") }
        var value: UInt64 = 0
        for index in 0..<width { value |= UInt64(buffer[position + index]) << (8 * UInt64(index)) }
        position += width
        return value
    }

    /// The field's bytes as text (invalid UTF-8 replaced; callers quote it with `SafeText`).
    func string(_ field: Field) throws -> String {
        guard case .bytes(let range) = field.value else { throw malformed(field.offset, "field \(field.number) should be a string") }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }

    func range(_ field: Field) throws -> Range<Int> {
        guard case .bytes(let range) = field.value else {
            throw malformed(field.offset, "field \(field.number) should be length-delimited")
        }
        return range
    }

    func integer(_ field: Field) throws -> Int64 {
        guard case .varint(let value) = field.value else { throw malformed(field.offset, "field \(field.number) should be a varint") }
        return Int64(bitPattern: value)
    }

    /// A repeated varint field, packed or one value per field, appended to `values` (at most `limit`).
    func appendIntegers(_ field: Field, to values: inout [Int64], limit: Int) throws {
        switch field.value {
        case .varint(let value): values.append(Int64(bitPattern: value))
        case .bytes(let range):
            var packed = message(range)
            while packed.position < packed.end {
                guard values.count < limit else { throw malformed(field.offset, "more than \(limit) values in field \(field.number)") }
                values.append(Int64(bitPattern: try packed.varint()))
            }
        default: throw malformed(field.offset, "field \(field.number) should hold varints")
        }
        guard values.count <= limit else { throw malformed(field.offset, "more than \(limit) values in field \(field.number)") }
    }

    /// A repeated fixed-width field (`width` 4 or 8): packed, it is a range of little-endian values used in
    /// place; one value per field, it is collected.
    func appendFixed(_ field: Field, width: Int, ranges: inout [Range<Int>], values: inout [UInt64]) throws {
        switch (field.value, width) {
        case (.bytes(let range), _):
            guard range.count % width == 0 else {
                throw malformed(field.offset, "packed field \(field.number) has \(range.count) bytes, not a multiple of \(width)")
            }
            ranges.append(range)
        case (.fixed32(let value), 4): values.append(UInt64(value))
        case (.fixed64(let value), 8): values.append(value)
        default: throw malformed(field.offset, "field \(field.number) should hold \(width * 8)-bit values")
        }
    }
}
