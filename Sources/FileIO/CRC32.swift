import CISAL
import CZlib
import Foundation

/// The CRC-32 (ISO-HDLC, as zlib and `binascii.crc32` compute it) of byte sequences, incrementally.
/// vggconv records it per tensor as 8 lowercase hex digits.
public struct CRC32: Sendable {
    /// The checksum of everything added so far.
    public private(set) var value: UInt32 = 0

    public init() {}

    /// Adds `bytes` to the checksum.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let pointer = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return }
        // ISA-L's gzip CRC is zlib's CRC-32 (same polynomial, pre- and post-inversion, chainable).
        value = crc32_gzip_refl(value, pointer, UInt64(bytes.count))
    }

    /// The checksum as 8 lowercase hex digits.
    public var hex: String { CRC32.hex(value) }

    /// `value` as 8 lowercase hex digits.
    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// The checksum of one buffer; large buffers are split across cores and the parts combined.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let parts = bytes.count >= 4 << 20 ? Cores.count : 1
        if parts <= 1 {
            var crc = CRC32()
            crc.update(bytes)
            return crc.value
        }
        let size = (bytes.count + parts - 1) / parts
        let partial = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: parts)
        defer { partial.deallocate() }
        let (input, output) = (SharedBuffer(bytes), SharedBuffer(partial))
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            let range = min(i * size, input.pointer.count)..<min((i + 1) * size, input.pointer.count)
            var crc = CRC32()
            crc.update(UnsafeRawBufferPointer(rebasing: input.pointer[range]))
            output.pointer[i] = crc.value
        }
        var combined = UInt(partial[0])
        for i in 1..<parts {
            let length = min((i + 1) * size, bytes.count) - min(i * size, bytes.count)
            combined = crc32_combine(combined, UInt(partial[i]), off_t(length))
        }
        return UInt32(truncatingIfNeeded: combined)
    }

    /// Extends this checksum with a block whose own checksum is `other` over `length` bytes.
    public mutating func append(_ other: UInt32, length: Int) {
        value = UInt32(truncatingIfNeeded: crc32_combine(UInt(value), UInt(other), off_t(length)))
    }
}
