import CZlib

/// The CRC-32 (ISO-HDLC, as zlib and `binascii.crc32` compute it) of byte sequences, incrementally.
/// vggconv records it per tensor as 8 lowercase hex digits.
public struct CRC32: Sendable {
    /// The checksum of everything added so far.
    public private(set) var value: UInt32 = 0

    public init() {}

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var pointer = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var remaining = bytes.count
        var crc = UInt(value)
        // zlib takes a 32-bit length; feed large buffers in pieces.
        while remaining > 0 {
            let chunk = min(remaining, 1 << 30)
            crc = crc32(crc, pointer, UInt32(chunk))
            pointer += chunk
            remaining -= chunk
        }
        value = UInt32(truncatingIfNeeded: crc)
    }

    /// The checksum as 8 lowercase hex digits.
    public var hex: String { CRC32.hex(value) }

    /// `value` as 8 lowercase hex digits.
    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// The checksum of one buffer.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
