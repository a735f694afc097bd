import Foundation
import FileIO
import VGGCore

/// The protocol-buffers wire format, as much as ONNX's messages need: varints, length-delimited fields
/// and fixed-width floats (developers.google.com/protocol-buffers/docs/encoding). Hand-written rather
/// than generated with swift-protobuf because ONNX needs ~10 messages, and because a 500 MB model must
/// be streamed: the writer lays out message headers whose lengths include tensor bytes it has not read.
struct ProtobufMessage {
    private(set) var bytes: [UInt8] = []

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    /// A field key: field number and wire type (0 varint, 2 length-delimited, 5 fixed 32-bit).
    static func key(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }

    mutating func int(_ field: Int, _ value: Int) {
        bytes += Self.key(field, 0) + Self.varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func float(_ field: Int, _ value: Float) {
        bytes += Self.key(field, 5)
        bytes.appendLittle(value.bitPattern)
    }

    mutating func string(_ field: Int, _ text: String) { bytes(field, Array(text.utf8)) }

    mutating func bytes(_ field: Int, _ payload: [UInt8]) {
        bytes += Self.key(field, 2) + Self.varint(UInt64(payload.count)) + payload
    }

    mutating func message(_ field: Int, _ message: ProtobufMessage) { bytes(field, message.bytes) }

    /// A packed repeated int64 field.
    mutating func ints(_ field: Int, _ values: [Int]) {
        bytes(field, values.flatMap { Self.varint(UInt64(bitPattern: Int64($0))) })
    }

    /// The header of a length-delimited field whose `length` payload bytes the caller writes next.
    static func header(_ field: Int, length: Int) -> [UInt8] { key(field, 2) + varint(UInt64(length)) }
}
