import FileIO
import Foundation

/// Writes a `ConversionPlan` as a `.vggw` file: preamble, JSON header, then every tensor converted to
/// the canonical layout, 64-byte aligned, streamed in blocks so that memory stays bounded by the
/// largest source tensor, and checksummed as it is written.
public enum NativeWriter {

    /// Converts and writes `plan` to `path` through a temporary file.
    /// - Throws: `VGGError` for existing outputs, unwritable directories and unsupported conversions.
    @discardableResult
    public static func write(_ plan: ConversionPlan, to path: String, overwrite: Bool, sourceBytes: Int,
                             progress: WriteProgress? = nil) throws -> NativeHeader {
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
        // A file vggconv writes must be one vggconv runs: the same check as on open, before any data.
        do {
            try ModelCheck.validate(header)
        } catch {
            throw VGGError.architecture(reason: "refusing to write \(path): \(error.reason)")
        }
        let crcs = try TensorStreamer.write(plan.tensors, at: header.tensors.map(\.offset), to: output, progress: progress)
        for (index, crc) in crcs.enumerated() { header.tensors[index].crc32 = CRC32.hex(crc) }
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
        try JSONOutput.encode(header, pretty: false)
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
