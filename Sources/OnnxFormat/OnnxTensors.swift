#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FileIO

/// Turns `TensorProto`s into `SourceTensor`s that point into the mapped model file (raw_data, packed
/// float_data and double_data are used in place) or into an external data file beside it. Only typed
/// values stored one per field, and scaled Gemm operands, are copied.
final class OnnxTensors {
    let file: MappedFile
    /// The model's folder, where external data may live; nil for bytes in memory (external data refused).
    let folder: String?
    private var externalFiles: [String: MappedFile] = [:]

    init(file: MappedFile, folder: String?) {
        self.file = file
        self.folder = folder
    }

    /// ONNX `TensorProto.DataType` → dtype.
    static func dtype(_ type: Int) -> DType? {
        switch type {
        case 1: return .float32
        case 2: return .uint8
        case 3: return .int8
        case 5: return .int16
        case 6: return .int32
        case 7: return .int64
        case 9: return .bool
        case 10: return .float16
        case 11: return .float64
        case 16: return .bfloat16
        default: return nil
        }
    }

    func tensor(_ proto: OnnxTensorProto, layout: TensorLayout) throws -> SourceTensor {
        let path = file.path
        func bad(_ problem: OnnxFormatError.TensorProblem) -> OnnxFormatError { .badTensor(path: path, tensor: proto.name, problem: problem) }
        guard !proto.segmented else { throw bad(.segmented) }
        guard let dtype = Self.dtype(proto.dataType) else { throw bad(.dataType(proto.dataType)) }
        guard let expected = ShapeMath.byteCount(proto.dims, dtype: dtype) else { throw bad(.dims(proto.dims)) }
        func make(_ data: TensorData, at offset: Int?) throws -> SourceTensor {
            guard data.count == expected else { throw bad(.size(expected: expected, actual: data.count)) }
            return SourceTensor(sourceName: proto.name, dtype: dtype, shape: proto.dims, layout: layout, data: data, fileOffset: offset)
        }
        if proto.externalLocation { return try make(try external(proto), at: nil) }
        if let raw = proto.raw { return try make(TensorData(file: file, offset: raw.lowerBound, count: raw.count), at: raw.lowerBound) }
        switch dtype {
        case .float32, .float64:
            let (ranges, values) = dtype == .float32 ? proto.fixed32 : proto.fixed64
            if ranges.count == 1, values.isEmpty, let range = ranges.first {
                return try make(TensorData(file: file, offset: range.lowerBound, count: range.count), at: range.lowerBound)
            }
            let width = dtype.byteSize
            var bytes: [UInt8] = []
            for range in ranges { bytes += file.bytes(offset: range.lowerBound, length: range.count) }
            for value in values { bytes += (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
            return try make(TensorData(bytes: bytes), at: nil)
        case .int64:
            return try make(TensorData(bytes: proto.int64Data.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * Int64($0))) } }), at: nil)
        default:
            // float16, bfloat16 and the narrow integers: one value per int32_data entry, low bytes first.
            let width = dtype.byteSize
            return try make(TensorData(bytes: proto.int32Data.flatMap { v in (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * Int64($0))) } }), at: nil)
        }
    }

    /// The tensor's values as Int64 (shapes, axes): small constants only.
    func integers(_ proto: OnnxTensorProto) throws -> [Int64] {
        let tensor = try self.tensor(proto, layout: .unknown)
        guard tensor.data.count <= 1024 else { return [] }
        return tensor.data.withUnsafeBytes { raw -> [Int64] in
            switch tensor.dtype {
            case .int64: return raw.bindMemory(to: Int64.self).map { Int64(littleEndian: $0) }
            case .int32: return raw.bindMemory(to: Int32.self).map { Int64(Int32(littleEndian: $0)) }
            default: return []
            }
        }
    }

    /// The tensor's values as Float (scales, rates): float32/float64 only.
    func floats(_ proto: OnnxTensorProto) throws -> [Float] {
        let tensor = try self.tensor(proto, layout: .unknown)
        return tensor.data.withUnsafeBytes { raw -> [Float] in
            switch tensor.dtype {
            case .float32: return raw.bindMemory(to: UInt32.self).map { Float(bitPattern: UInt32(littleEndian: $0)) }
            case .float64: return raw.bindMemory(to: UInt64.self).map { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
            default: return []
            }
        }
    }

    /// Data in a file of the model's folder (`location`, `offset`, `length`), mapped once per file. The
    /// location must be relative, without `..`, and resolve (symbolic links followed) inside the folder.
    private func external(_ proto: OnnxTensorProto) throws -> TensorData {
        let path = file.path
        var location = "", offset = 0, length: Int?
        for (key, value) in proto.external {
            switch key {
            case "location": location = value
            case "offset", "length":
                guard let number = Int(value), number >= 0 else {
                    throw OnnxFormatError.externalData(path: path, tensor: proto.name, location: location, problem: .badKey(key))
                }
                if key == "offset" { offset = number } else { length = number }
            default: continue
            }
        }
        func refuse(_ problem: OnnxFormatError.ExternalProblem) -> OnnxFormatError {
            .externalData(path: path, tensor: proto.name, location: location, problem: problem)
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.isEmpty, !location.hasPrefix("/"), !location.contains("\\"), !location.contains("\0"),
              !parts.contains(where: { $0 == ".." || $0.isEmpty }) else { throw refuse(.outsideFolder) }
        guard let folder else { throw refuse(.missing) }
        let data: MappedFile
        if let mapped = externalFiles[location] {
            data = mapped
        } else {
            let candidate = folder + "/" + location
            guard let resolvedFolder = Self.realPath(folder) else { throw refuse(.missing) }
            guard let resolved = Self.realPath(candidate) else { throw refuse(.missing) }
            guard resolved.hasPrefix(resolvedFolder.hasSuffix("/") ? resolvedFolder : resolvedFolder + "/") else { throw refuse(.symlinkOutside) }
            data = try MappedFile(path: resolved, role: .externalData)
            externalFiles[location] = data
        }
        let count = length ?? (data.count - min(offset, data.count))
        guard data.contains(offset: offset, length: count) else { throw refuse(.range(offset: offset, length: count, fileSize: data.count)) }
        return TensorData(file: data, offset: offset, count: count)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
