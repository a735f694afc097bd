import Foundation

/// Writes a `ConversionPlan` as a `.vggw` file: preamble, JSON header, then every tensor converted to
/// the canonical layout, 64-byte aligned, streamed in blocks so that memory stays bounded by the
/// largest source tensor, and checksummed as it is written.
public enum NativeWriter {
    /// Progress callback: bytes of tensor data written so far, and in total.
    public typealias Progress = (_ done: Int, _ total: Int) -> Void

    /// Converts and writes `plan` to `path` through a temporary file.
    /// - Throws: `VGGError` for existing outputs, unwritable directories and unsupported conversions.
    @discardableResult
    public static func write(_ plan: ConversionPlan, to path: String, overwrite: Bool, sourceBytes: Int,
                             progress: Progress? = nil) throws -> NativeHeader {
        for tensor in plan.tensors where tensor.dtype != tensor.sourceDType && !tensor.sourceDType.isFloatingPoint {
            throw VGGError.unsupportedDType(tensor: tensor.sourceName, dtype: tensor.sourceDType.rawValue,
                                            reason: "cannot be converted to \(tensor.dtype.rawValue)")
        }
        let output = try OutputFile(path: path, overwrite: overwrite)
        var header = NativeHeader(
            architecture: plan.architecture,
            tensors: plan.tensors.map {
                NativeTensor(name: $0.name, sourceName: $0.sourceName, dtype: $0.dtype, shape: $0.shape,
                             layout: $0.layout, offset: 0, nbytes: $0.nbytes, crc32: "00000000")
            },
            provenance: Provenance(
                sourceFormat: plan.sourceFormat, sourceFile: plan.sourcePath, sourceBytes: sourceBytes,
                conversions: plan.tensors.compactMap { t in
                    t.conversion == .identity && t.dtype == t.sourceDType ? nil
                        : AppliedConversion(tensor: t.name, layout: t.conversion.description, fromShape: t.sourceShape,
                                            fromDtype: t.sourceDType, toDtype: t.dtype)
                },
                notes: plan.notes))
        let dataStart = try layOut(&header)
        let total = header.tensors.reduce(0) { $0 + $1.nbytes }
        var written = 0
        for (index, tensor) in plan.tensors.enumerated() {
            var crc = CRC32()
            var position = header.tensors[index].offset
            try TensorStreamer.stream(tensor) { block in
                crc.update(block)
                try output.write(block, at: position)
                position += block.count
                written += block.count
                progress?(written, total)
            }
            header.tensors[index].crc32 = crc.hex
        }
        try writeHeader(header, dataStart: dataStart, to: output)
        try output.commit()
        return header
    }

    /// Assigns aligned offsets; returns where the data starts. The header is sized with placeholder
    /// checksums of the same length as the real ones, so its length never changes afterwards.
    static func layOut(_ header: inout NativeHeader) throws -> Int {
        var dataStart = NativeFormat.preambleSize
        for _ in 0..<8 {
            var offset = dataStart
            for i in header.tensors.indices {
                header.tensors[i].offset = offset
                offset = ShapeMath.alignUp(offset + header.tensors[i].nbytes, to: NativeFormat.alignment)!
            }
            let needed = NativeFormat.preambleSize + (try encode(header)).count
            let aligned = ShapeMath.alignUp(needed, to: NativeFormat.alignment)!
            if aligned <= dataStart { return dataStart }
            dataStart = aligned
        }
        throw VGGError.architecture(reason: "internal error: header layout did not converge")
    }

    static func encode(_ header: NativeHeader) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(header)
    }

    private static func writeHeader(_ header: NativeHeader, dataStart: Int, to output: OutputFile) throws {
        var bytes = [UInt8](NativeFormat.magic)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        let json = try encode(header)
        let headerLength = dataStart - NativeFormat.preambleSize
        precondition(json.count <= headerLength, "header grew after layout")
        append(UInt32(NativeFormat.version))
        append(UInt32(0))
        append(UInt64(headerLength))
        bytes += json
        bytes += [UInt8](repeating: 0x20, count: headerLength - json.count)
        try bytes.withUnsafeBytes { try output.write($0, at: 0) }
        // Zero padding between tensors is left as holes by pwrite and reads back as zeros.
    }
}

/// Produces a planned tensor's converted bytes in blocks of bounded size.
enum TensorStreamer {
    static let blockBytes = 8 << 20

    static func stream(_ tensor: PlannedTensor, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        defer { tensor.data.releasePages() }
        try tensor.data.withUnsafeBytes { source in
            switch tensor.conversion {
            case .identity where tensor.dtype == tensor.sourceDType:
                var start = 0
                while start < source.count {
                    let end = min(start + blockBytes, source.count)
                    try body(UnsafeRawBufferPointer(rebasing: source[start..<end]))
                    start = end
                }
            case .identity:
                let count = source.count / tensor.sourceDType.byteSize
                let step = max(1, blockBytes / 8)
                var converted = [UInt8](repeating: 0, count: step * tensor.dtype.byteSize)
                var first = 0
                while first < count {
                    let n = min(step, count - first)
                    let slice = UnsafeRawBufferPointer(rebasing: source[(first * tensor.sourceDType.byteSize)...])
                    try converted.withUnsafeMutableBytes { out in
                        FloatConversion.convert(slice, from: tensor.sourceDType, into: out, to: tensor.dtype, count: n)
                        try body(UnsafeRawBufferPointer(rebasing: out[0..<(n * tensor.dtype.byteSize)]))
                    }
                    first += n
                }
            case .interleavedTranspose(let transpose):
                let sourceSize = tensor.sourceDType.byteSize
                let rowBytes = transpose.rows * sourceSize
                let rowsPerBlock = max(1, blockBytes / max(1, rowBytes))
                var gathered = [UInt8](repeating: 0, count: min(transpose.columns, rowsPerBlock) * rowBytes)
                var converted = [UInt8](repeating: 0, count: tensor.dtype == tensor.sourceDType ? 0
                    : min(transpose.columns, rowsPerBlock) * transpose.rows * tensor.dtype.byteSize)
                var row = 0
                while row < transpose.columns {
                    let rows = row..<min(row + rowsPerBlock, transpose.columns)
                    try gathered.withUnsafeMutableBytes { block in
                        transpose.apply(source: source, resultRows: rows, elementSize: sourceSize, into: block)
                        let produced = UnsafeRawBufferPointer(rebasing: block[0..<(rows.count * rowBytes)])
                        if tensor.dtype == tensor.sourceDType { return try body(produced) }
                        let n = rows.count * transpose.rows
                        try converted.withUnsafeMutableBytes { out in
                            FloatConversion.convert(produced, from: tensor.sourceDType, into: out, to: tensor.dtype, count: n)
                            try body(UnsafeRawBufferPointer(rebasing: out[0..<(n * tensor.dtype.byteSize)]))
                        }
                    }
                    row = rows.upperBound
                }
            }
        }
    }
}
