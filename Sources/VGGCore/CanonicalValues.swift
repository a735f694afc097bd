import FileIO
/// A planned tensor's values as float32 in canonical layout, produced in blocks of whole canonical rows
/// straight from the memory-mapped source (the layout conversion and dtype widening done per block), so
/// comparing two 500 MB models never holds a converted copy of either.
public struct CanonicalValues {
    public let tensor: PlannedTensor
    /// Elements per canonical row: a transposed tensor's result row, else 1.
    public let rowLength: Int
    /// Canonical rows.
    public let rows: Int
    public var count: Int { rows * rowLength }

    /// - Throws: `VGGError.unsupportedDType` for tensors that are not floating point.
    public init(_ tensor: PlannedTensor) throws {
        guard tensor.sourceDType.isFloatingPoint else {
            throw VGGError.unsupportedDType(tensor: tensor.sourceName, dtype: tensor.sourceDType.rawValue, reason: "only floating-point tensors are compared")
        }
        self.tensor = tensor
        switch tensor.conversion {
        case .identity:
            (rows, rowLength) = (ShapeMath.elementCount(tensor.shape) ?? 0, 1)
        case .interleavedTranspose(let t):
            (rows, rowLength) = (t.columns, t.rows)
        case .deinterleavedTranspose(let t):
            (rows, rowLength) = (t.rows, t.columns)
        }
    }

    /// Rows per block for blocks of about `bytes` float32 bytes.
    public func rowsPerBlock(bytes: Int = 16 << 20) -> Int { max(1, bytes / 4 / max(1, rowLength)) }

    /// Bytes of scratch `withRows` needs for `rows` rows.
    public func scratchBytes(rows: Int) -> Int { rows * rowLength * (tensor.sourceDType.byteSize + 4) + 64 }

    /// Calls `body` with canonical rows `range` as float32: in place in the source when it is float32 and
    /// already canonical, else converted into `scratch` (at least `scratchBytes(rows: range.count)`).
    public func withRows<R>(_ range: Range<Int>, scratch: UnsafeMutableRawBufferPointer, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        let size = tensor.sourceDType.byteSize, n = range.count * rowLength
        precondition(scratch.count >= scratchBytes(rows: range.count))
        return tensor.data.withUnsafeBytes { source in
            let raw: UnsafeRawBufferPointer
            switch tensor.conversion {
            case .identity:
                raw = UnsafeRawBufferPointer(rebasing: source[(range.lowerBound * size)..<(range.upperBound * size)])
            case .interleavedTranspose(let t):
                t.applyInParallel(source: source, resultRows: range, elementSize: size, into: scratch)
                raw = UnsafeRawBufferPointer(rebasing: scratch[0..<(n * size)])
            case .deinterleavedTranspose(let t):
                t.applyInverseInParallel(result: source, sourceRows: range, elementSize: size, into: scratch)
                raw = UnsafeRawBufferPointer(rebasing: scratch[0..<(n * size)])
            }
            if tensor.sourceDType == .float32 { return body(raw.bindMemory(to: Float.self)) }
            let start = (n * size + 63) / 64 * 64
            let floats = UnsafeMutableRawBufferPointer(rebasing: scratch[start..<(start + n * 4)])
            FloatConversion.convert(raw, from: tensor.sourceDType, into: floats, to: .float32, count: n)
            return body(UnsafeRawBufferPointer(floats).bindMemory(to: Float.self))
        }
    }

    /// Drops the source pages behind canonical rows `range` when they are not needed again (a tensor
    /// used in place: its rows are its bytes; a transposed one reads every source row for each block).
    public func release(_ range: Range<Int>) {
        guard case .identity = tensor.conversion else { return }
        let size = tensor.sourceDType.byteSize
        tensor.data.releasePages((range.lowerBound * size)..<(range.upperBound * size))
    }

    /// Adds the CRC-32 of the source bytes behind canonical rows `range` to `pieces`, for a tensor stored
    /// in canonical layout (a transposed tensor's rows are no byte range of its source: nothing is added).
    public func addChecksum(of range: Range<Int>, to pieces: ChecksumPieces?) {
        guard let pieces, case .identity = tensor.conversion else { return }
        let size = tensor.sourceDType.byteSize, bytes = (range.lowerBound * size)..<(range.upperBound * size)
        let crc = tensor.data.withUnsafeBytes { CRC32.of(UnsafeRawBufferPointer(rebasing: $0[bytes])) }
        pieces.add(offset: bytes.lowerBound, length: bytes.count, crc: crc)
    }

    /// Calls `body` with random access to the values by canonical index (read in place from the source).
    public func withValues<R>(_ body: ((Int) -> Float) -> R) -> R {
        let dtype = tensor.sourceDType, size = dtype.byteSize
        let locate: (Int) -> Int
        switch tensor.conversion {
        case .identity:
            locate = { $0 }
        case .interleavedTranspose(let t):  // canonical [o, c * groups + g] = source [(g * channels + c), o]
            locate = { k in
                let (o, j) = k.quotientAndRemainder(dividingBy: t.rows), (c, g) = j.quotientAndRemainder(dividingBy: t.groups)
                return (g * t.channels + c) * t.columns + o
            }
        case .deinterleavedTranspose(let t):  // canonical [g * channels + c, o] = source [o, c * groups + g]
            locate = { k in
                let (r, o) = k.quotientAndRemainder(dividingBy: t.columns), (g, c) = r.quotientAndRemainder(dividingBy: t.channels)
                return o * t.rows + c * t.groups + g
            }
        }
        return tensor.data.withUnsafeBytes { raw in
            body { k in
                let offset = locate(k) * size
                switch dtype {
                case .float32: return raw.loadUnaligned(fromByteOffset: offset, as: Float.self)
                case .float16: return Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                case .bfloat16: return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) << 16)
                default: return Float(raw.loadUnaligned(fromByteOffset: offset, as: Double.self))
                }
            }
        }
    }

    /// Every value, in canonical order.
    public func all() -> [Float] {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchBytes(rows: rows), alignment: 64)
        defer { scratch.deallocate() }
        return withRows(0..<rows, scratch: scratch) { Array($0) }
    }
}
