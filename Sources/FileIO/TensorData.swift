/// Where a tensor's bytes live: a range of a memory-mapped file (zero copy) or an owned buffer
/// (data that had to be decoded, decompressed or byte-swapped first).
public struct TensorData: Sendable {
    private enum Storage: Sendable {
        case mapped(MappedFile, offset: Int)
        case owned([UInt8])
    }
    private let storage: Storage
    /// Length in bytes.
    public let count: Int
    /// A checksum the container records for exactly these bytes that has not been checked yet: whoever
    /// reads the data must check it (`TensorStreamer` does, on the bytes it writes, before the rename).
    public let pendingChecksum: PendingChecksum?

    /// Bytes `offset..<offset+count` of a mapped file; the caller has checked the range.
    public init(file: MappedFile, offset: Int, count: Int, pendingChecksum: PendingChecksum? = nil) {
        precondition(file.contains(offset: offset, length: count))
        storage = .mapped(file, offset: offset)
        self.count = count
        self.pendingChecksum = pendingChecksum
    }

    /// Where the bytes start in their mapped file; nil for owned bytes.
    public var mappedOffset: Int? {
        if case .mapped(_, let offset) = storage { return offset }
        return nil
    }

    /// Bytes held in memory.
    public init(bytes: [UInt8]) {
        storage = .owned(bytes)
        count = bytes.count
        pendingChecksum = nil
    }

    /// True when the bytes live in a mapped file (and `read` copies them with `pread`).
    public var isMapped: Bool { mappedOffset != nil }

    /// Copies the bytes `range` (inside `0..<count`) into `buffer` (at least `range.count` long): with
    /// `pread` for a mapped file, so that streaming a tensor does not fault its pages in.
    public func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
        precondition(range.lowerBound >= 0 && range.upperBound <= count && buffer.count >= range.count)
        let into = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<range.count])
        switch storage {
        case .mapped(let file, let offset): try file.read(offset: offset + range.lowerBound, into: into)
        case .owned(let bytes): bytes.withUnsafeBytes { into.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) }
        }
    }

    /// Calls `body` with the bytes. - warning: Do not let the buffer escape the closure.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .mapped(let file, let offset):
            return try file.withBytes(offset: offset, length: count, body)
        case .owned(let bytes):
            return try bytes.withUnsafeBytes(body)
        }
    }

    /// Maps a mapped range's pages in at once, before reading them out of order.
    public func populatePages() {
        if case .mapped(let file, let offset) = storage { file.populate(offset: offset, length: count) }
    }

    /// Drops the pages of a mapped range from this process's resident set once they have been used.
    public func releasePages() {
        if case .mapped(let file, let offset) = storage { file.release(offset: offset, length: count) }
    }

    /// Drops the pages of `bytes` (a range of this tensor's bytes) once they have been used.
    public func releasePages(_ bytes: Range<Int>) {
        if case .mapped(let file, let offset) = storage { file.release(offset: offset + bytes.lowerBound, length: bytes.count) }
    }
}

/// A CRC-32 a container (a `.pth` zip record) stores for a tensor's bytes, checked where they are read.
public struct PendingChecksum: Sendable {
    public let crc32: UInt32
    /// The file and the record, for the error.
    public let path: String
    public let record: String

    public init(crc32: UInt32, path: String, record: String) {
        self.crc32 = crc32
        self.path = path
        self.record = record
    }

    /// Throws `VGGError.badZip` unless `actual` is the recorded checksum.
    public func check(_ actual: UInt32) throws {
        guard actual != crc32 else { return }
        throw VGGError.badZip(path: path, problem: .checksum(entry: record, recorded: crc32, actual: actual))
    }
}

/// The axis order of a stored tensor. Canonical native files use `oihw`, `outIn` and `vector`.
public enum TensorLayout: String, Codable, Sendable {
    /// Convolution kernel (out, in, kh, kw): PyTorch and the native format.
    case oihw = "OIHW"
    /// Convolution kernel (kh, kw, in, out): Keras.
    case hwio = "HWIO"
    /// Dense weight (out, in): PyTorch and the native format.
    case outIn = "OI"
    /// Dense kernel (in, out): Keras.
    case inOut = "IO"
    /// One value per channel or unit.
    case vector = "C"
    /// A 0-d value.
    case scalar = "scalar"
    /// A tensor whose role vggconv does not interpret (listed by `inspect` only).
    case unknown = "unknown"
}

/// A tensor as a reader found it, before any layout conversion.
public struct SourceTensor: Sendable {
    /// The tensor's name or path in its file (`block1_conv1/block1_conv1/kernel:0`, `features.0.weight`).
    public var sourceName: String
    public var dtype: DType
    public var shape: [Int]
    public var layout: TensorLayout
    public var data: TensorData
    /// The absolute byte offset of the data in the file, when it is stored contiguously.
    public var fileOffset: Int?

    public init(sourceName: String, dtype: DType, shape: [Int], layout: TensorLayout, data: TensorData, fileOffset: Int?) {
        self.sourceName = sourceName
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
        self.data = data
        self.fileOffset = fileOffset
    }
}
