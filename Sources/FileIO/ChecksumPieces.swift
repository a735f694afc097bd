import Foundation

/// CRC-32s of pieces of one tensor's bytes, added by whichever pass reads them (in any order, from any
/// thread), so that a record's pending checksum (`TensorData.pendingChecksum`) is checked on the bytes
/// that pass already has in cache instead of by a read of its own.
public final class ChecksumPieces: @unchecked Sendable {
    private var pieces: [(offset: Int, length: Int, crc: UInt32)] = []
    private let lock = NSLock()

    public init() {}

    /// Records that bytes `offset..<offset+length` have checksum `crc`.
    public func add(offset: Int, length: Int, crc: UInt32) {
        lock.withLock { pieces.append((offset, length, crc)) }
    }

    /// The checksum of bytes `0..<count`, or nil unless the pieces cover them exactly once.
    public func combined(count: Int) -> UInt32? {
        let sorted = lock.withLock { pieces.sorted { $0.offset < $1.offset } }
        var checksum = CRC32(), end = 0
        for piece in sorted {
            guard piece.offset == end else { return nil }
            checksum.append(piece.crc, length: piece.length)
            end += piece.length
        }
        return end == count ? checksum.value : nil
    }
}

extension TensorData {
    /// Checks the checksum the container left pending, if any: from `pieces` when they cover the bytes,
    /// else by reading them (and dropping their pages after).
    /// - Throws: `VGGError.badZip` when the bytes do not match.
    public func checkPendingChecksum(_ pieces: ChecksumPieces? = nil) throws {
        guard let pending = pendingChecksum else { return }
        if let crc = pieces?.combined(count: count) { return try pending.check(crc) }
        try pending.check(withUnsafeBytes { CRC32.of($0) })
        releasePages()
    }
}
